// Consumers compiled once per Snapshot: who a credential belongs to. API keys are kept only as
// SHA-256 digests (the plaintext from the config is hashed here and not retained by this object);
// hmac secrets must be kept as bytes, since verifying a signature needs them.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { ConsumerConfig } from '../config/schema/index.js'
import type { RequestContext } from '../core/context.js'

export interface Consumer {
  readonly name: string
  readonly roles: readonly string[]
}

export interface HmacCredential {
  readonly consumer: Consumer
  readonly secret: Buffer
}

const sha256 = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest()

/** Header an authenticated request carries upstream (after any client-sent value is replaced). */
export const CONSUMER_HEADER = 'x-consumer-name'

export class Consumers {
  /** hex(sha256(key)) → [digest, consumer]. */
  readonly #keys = new Map<string, { digest: Buffer; consumer: Consumer }>()
  readonly #hmac = new Map<string, HmacCredential>()
  readonly #byName = new Map<string, Consumer>()

  constructor(configs: readonly ConsumerConfig[] = []) {
    for (const c of configs) {
      const consumer: Consumer = Object.freeze({ name: c.name, roles: Object.freeze([...(c.roles ?? [])]) })
      this.#byName.set(c.name, consumer)
      for (const k of c.credentials?.key_auth ?? []) {
        const digest = k.startsWith('sha256:') ? Buffer.from(k.slice(7), 'hex') : sha256(k)
        this.#keys.set(digest.toString('hex'), { digest, consumer })
      }
      for (const h of c.credentials?.hmac_auth ?? []) this.#hmac.set(h.key_id, { consumer, secret: Buffer.from(h.secret, 'utf8') })
    }
  }

  get size(): number {
    return this.#byName.size
  }

  get(name: string): Consumer | undefined {
    return this.#byName.get(name)
  }

  /**
   * The consumer owning `key`, or undefined. The presented key is hashed first, so the lookup
   * (and its timing) depends only on the digest: learning digest bytes from timing reveals nothing
   * about any stored key (pre-image resistance). The final comparison is timingSafeEqual anyway.
   */
  byKey(key: string): Consumer | undefined {
    const digest = sha256(key)
    const hit = this.#keys.get(digest.toString('hex'))
    if (hit === undefined || !timingSafeEqual(digest, hit.digest)) return undefined
    return hit.consumer
  }

  hmac(keyId: string): HmacCredential | undefined {
    return this.#hmac.get(keyId)
  }

  /** For tests and /status: never the keys, only how many there are. */
  get keyCount(): number {
    return this.#keys.size
  }
}

export const NO_CONSUMERS = new Consumers()

/**
 * Records the identity an auth plugin established: later plugins (rbac, rate limits), the access log
 * and the upstream (`x-consumer-name`, replacing whatever the client sent) all see it.
 */
export function identify(ctx: RequestContext, consumer: Consumer, header: string | null = CONSUMER_HEADER): void {
  ctx.consumer = consumer.name
  ctx.consumerRoles = consumer.roles
  if (header !== null) ctx.upstreamHeaders[header] = consumer.name
}

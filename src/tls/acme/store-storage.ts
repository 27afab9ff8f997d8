// Fleet mode: ACME state in the shared Store (store.redis), so many instances issue each
// certificate once and any of them answers the CA. Keys (after the Store's prefix, `portico:`):
//   acme:account:<scope>:key | :url      account key (PEM) and URL, per directory URL, encrypted
//   acme:{cert:<name>}                   { certPem, keyPem, names, meta }, encrypted
//   acme:{cert:<name>}:lock              the issuance lock: a random owner token, SET NX PX
//   acme:{cert:<name>}:fence             fencing counter (INCR at each acquisition, never expires)
//   acme:certs                           names of the stored certificates, one a line
//   acme:version                         INCR at each publication (instances poll it: a missed message)
//   acme:http01:<token>                  key authorization of a pending HTTP-01 challenge (public by nature)
//   acme:alpn:<name>                     { cert, key } of a pending TLS-ALPN-01 challenge, encrypted
//   channel acme:issued                  the name of each certificate published
// A certificate's three keys share one hash tag, so its lock, fence and fenced write are one slot
// on a Redis Cluster. Every encrypted value is bound to its key (AAD): see envelope.ts.
import { createHash, randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Store, StoreScript } from '../../state/store.js'
import type { AcmeConfig } from '../../config/schema/tls.js'
import { Envelope } from '../../core/envelope.js'
import { parseEncryptionKey } from '../../config/tls-checks.js'
import { directoryUrl } from './directory.js'
import { FencedOutError, type AcmeLock, type AcmeStorage, type AlpnChallenge, type StoredCertificate } from './storage.js'

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/
const NAME = /^[A-Za-z0-9_.-]+$/
const HOST = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/
/** A pending challenge outlives no order: the CA gives up well before. */
const CHALLENGE_TTL_MS = 15 * 60_000
const CHANNEL = 'acme:issued'
const POLL_MS = 1000

/** SET NX PX, then INCR the fence: one atomic step, so a fence is only spent on a granted lock. */
export const ACQUIRE: StoreScript = {
  name: 'portico_acme_lock_acquire',
  lua: `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end
return 0`,
  local(s, keys, args) {
    if (s.get(keys[0]!) !== null) return 0
    s.set(keys[0]!, String(args[0]), Number(args[1]))
    const f = Number(s.get(keys[1]!) ?? '0') + 1
    s.set(keys[1]!, String(f))
    return f
  },
}

/** Extends the lock only while this owner still holds it. */
export const RENEW: StoreScript = {
  name: 'portico_acme_lock_renew',
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
  local(s, keys, args) {
    if (s.get(keys[0]!) !== String(args[0])) return 0
    s.set(keys[0]!, String(args[0]), Number(args[1]))
    return 1
  },
}

/** Compare-and-delete: a holder whose lock expired never deletes the next holder's. */
export const RELEASE: StoreScript = {
  name: 'portico_acme_lock_release',
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  local(s, keys, args) {
    if (s.get(keys[0]!) !== String(args[0])) return 0
    s.del(keys[0]!)
    return 1
  },
}

/** The certificate write, refused when a later acquisition spent a larger fence than the writer's. */
export const FENCED_SET: StoreScript = {
  name: 'portico_acme_fenced_set',
  lua: `local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1`,
  local(s, keys, args) {
    if (Number(s.get(keys[1]!) ?? '0') > Number(args[1])) return 0
    s.set(keys[0]!, String(args[0]))
    return 1
  },
}

/** Adds a name to the newline-separated index unless it is there. */
export const INDEX_ADD: StoreScript = {
  name: 'portico_acme_index_add',
  lua: `local v = redis.call('GET', KEYS[1]) or ''
if string.find('\\n' .. v .. '\\n', '\\n' .. ARGV[1] .. '\\n', 1, true) then return 0 end
if v == '' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], v .. '\\n' .. ARGV[1]) end
return 1`,
  local(s, keys, args) {
    const v = s.get(keys[0]!) ?? ''
    const names = v === '' ? [] : v.split('\n')
    if (names.includes(String(args[0]))) return 0
    s.set(keys[0]!, [...names, String(args[0])].join('\n'))
    return 1
  },
}

interface Record_ {
  certPem: string
  keyPem: string
  names: string[]
  meta: Record<string, unknown>
}

export interface StoreStorageOptions {
  /** The ACME directory URL: one account per CA. */
  directoryUrl: string
  envelope: Envelope
  /** For logs of background failures (the publication poll). */
  onError?: (err: Error) => void
}

/** "host/pid/random": the holder is recognisable in the Store (operators, tests), and unique. */
function ownerToken(): string {
  return `${hostname()}/${process.pid}/${randomBytes(12).toString('hex')}`
}

export class AcmeStoreStorage implements AcmeStorage {
  readonly kind = 'redis'
  readonly #store: () => Store
  readonly #env: Envelope
  readonly #scope: string
  readonly #onError: (err: Error) => void

  /** `store` is a getter: a worker's shared Store may be replaced by a reload. */
  constructor(store: Store | (() => Store), opts: StoreStorageOptions) {
    this.#store = typeof store === 'function' ? store : () => store
    this.#env = opts.envelope
    this.#scope = createHash('sha256').update(opts.directoryUrl).digest('hex').slice(0, 16)
    this.#onError = opts.onError ?? (() => undefined)
  }

  init(): Promise<void> {
    return Promise.resolve()
  }

  async #getSealed(key: string): Promise<string | null> {
    const v = await this.#store().get(key)
    return v === null ? null : this.#env.open(v, key)
  }

  #setSealed(key: string, plaintext: string, ttlMs?: number): Promise<void> {
    return this.#store().set(key, this.#env.seal(plaintext, key), ttlMs)
  }

  #certKey(name: string): string {
    return `acme:{cert:${name}}`
  }

  accountKey(): Promise<string | null> {
    return this.#getSealed(`acme:account:${this.#scope}:key`)
  }

  async saveAccountKey(pem: string): Promise<string> {
    const key = `acme:account:${this.#scope}:key`
    // Two instances starting together each make a key: the first write wins, both use it.
    if (await this.#store().setIfAbsent(key, this.#env.seal(pem, key), 0x7fffffff)) {
      // setIfAbsent has an expiry; the account key must not have one.
      await this.#store().set(key, this.#env.seal(pem, key))
      return pem
    }
    const winner = await this.accountKey()
    if (winner === null) throw new Error('the account key vanished from the store while it was being saved')
    return winner
  }

  accountUrl(): Promise<string | null> {
    return this.#getSealed(`acme:account:${this.#scope}:url`)
  }

  saveAccountUrl(url: string): Promise<void> {
    return this.#setSealed(`acme:account:${this.#scope}:url`, url)
  }

  async #record(name: string): Promise<Record_ | null> {
    if (!NAME.test(name)) return null
    const text = await this.#getSealed(this.#certKey(name))
    return text === null ? null : (JSON.parse(text) as Record_)
  }

  async certificate(name: string): Promise<StoredCertificate | null> {
    const r = await this.#record(name)
    return r === null ? null : { name, certPem: r.certPem, keyPem: r.keyPem, names: r.names }
  }

  async certificateMeta(name: string): Promise<Record<string, unknown> | null> {
    const r = await this.#record(name)
    return r === null ? null : { names: r.names, ...r.meta }
  }

  async saveCertificate(c: StoredCertificate, meta: Record<string, unknown>, lock?: AcmeLock): Promise<void> {
    if (!NAME.test(c.name)) throw new Error(`invalid certificate name "${c.name}"`)
    const key = this.#certKey(c.name)
    const value = this.#env.seal(JSON.stringify({ certPem: c.certPem, keyPem: c.keyPem, names: c.names, meta } satisfies Record_), key)
    const store = this.#store()
    if (lock === undefined) await store.set(key, value)
    else if (Number(await store.eval(FENCED_SET, [key, `${key}:fence`], [value, lock.fence])) !== 1) {
      throw new FencedOutError(`certificate ${c.name}: not written, a newer lock holder (fence > ${lock.fence}) exists`)
    }
    await store.eval(INDEX_ADD, ['acme:certs'], [c.name])
    // Publication: the version for pollers (a missed message), then the message itself.
    await store.incr('acme:version', 1, 0x7fffffff * 1000)
    await store.publish(CHANNEL, c.name)
  }

  async certificateNames(): Promise<string[]> {
    const v = await this.#store().get('acme:certs')
    return v === null || v === '' ? [] : v.split('\n').filter((n) => NAME.test(n))
  }

  async putChallenge(token: string, keyAuthorization: string): Promise<void> {
    if (!TOKEN.test(token)) throw new Error('invalid ACME token')
    await this.#store().set(`acme:http01:${token}`, keyAuthorization, CHALLENGE_TTL_MS)
  }

  async removeChallenge(token: string): Promise<void> {
    if (TOKEN.test(token)) await this.#store().del(`acme:http01:${token}`)
  }

  challenge(token: string): Promise<string | null> {
    if (!TOKEN.test(token)) return Promise.resolve(null)
    return this.#store().get(`acme:http01:${token}`)
  }

  async putAlpnChallenge(name: string, c: AlpnChallenge): Promise<void> {
    const n = name.toLowerCase()
    if (!HOST.test(n)) throw new Error('invalid TLS-ALPN-01 identifier')
    await this.#setSealed(`acme:alpn:${n}`, JSON.stringify(c), CHALLENGE_TTL_MS)
  }

  async removeAlpnChallenge(name: string): Promise<void> {
    const n = name.toLowerCase()
    if (HOST.test(n)) await this.#store().del(`acme:alpn:${n}`)
  }

  async alpnChallenge(name: string): Promise<AlpnChallenge | null> {
    const n = name.toLowerCase()
    if (!HOST.test(n)) return null
    const text = await this.#getSealed(`acme:alpn:${n}`)
    return text === null ? null : (JSON.parse(text) as AlpnChallenge)
  }

  async lock(name: string, ttlMs: number): Promise<AcmeLock | null> {
    if (!NAME.test(name)) throw new Error(`invalid certificate name "${name}"`)
    const key = `${this.#certKey(name)}:lock`
    const owner = ownerToken()
    const store = this.#store()
    const fence = Number(await store.eval(ACQUIRE, [key, `${this.#certKey(name)}:fence`], [owner, ttlMs]))
    if (fence === 0) return null
    let lost = false
    let released = false
    /** Until when the lock is surely ours: the last renewal's start plus the ttl. */
    let validUntil = Date.now() + ttlMs
    // Renewed at a third of its life: two renewals may fail (a Redis blip) before it expires.
    const timer = setInterval(() => {
      const sent = Date.now()
      if (sent >= validUntil) {
        // No renewal got through for a whole ttl: the lock may have expired and been taken.
        lost = true
        clearInterval(timer)
        return
      }
      store.eval(RENEW, [key], [owner, ttlMs]).then(
        (r) => {
          if (released) return
          if (Number(r) === 1) validUntil = sent + ttlMs
          else {
            lost = true
            clearInterval(timer)
          }
        },
        (err: Error) => this.#onError(err),
      )
    }, Math.max(100, Math.floor(ttlMs / 3)))
    timer.unref()
    return {
      fence,
      owner,
      get lost() {
        return lost || Date.now() >= validUntil
      },
      release: async () => {
        released = true
        clearInterval(timer)
        await store.eval(RELEASE, [key], [owner])
      },
    }
  }

  /** Who holds a certificate's lock now (the owner token), for /status and tests. */
  lockHolder(name: string): Promise<string | null> {
    return this.#store().get(`${this.#certKey(name)}:lock`)
  }

  async watch(onChange: () => void): Promise<() => Promise<void>> {
    const store = this.#store()
    const unsubscribe = await store.subscribe(CHANNEL, () => onChange())
    // Pub/sub drops messages while a subscriber reconnects: the version key catches those.
    let seen: string | null | undefined
    const poll = setInterval(() => {
      store.get('acme:version').then(
        (v) => {
          if (seen !== undefined && v !== seen) onChange()
          seen = v
        },
        (err: Error) => this.#onError(err),
      )
    }, POLL_MS)
    poll.unref()
    return async () => {
      clearInterval(poll)
      await unsubscribe()
    }
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}

/** The fleet storage for an acme block with storage.backend: redis, over `store` (store.redis). */
export function storeStorageFor(acme: AcmeConfig, store: Store | (() => Store), onError?: (err: Error) => void): AcmeStoreStorage {
  const st = acme.storage
  if (st?.encryption_key === undefined) throw new Error('acme.storage.encryption_key is required with backend: redis')
  const envelope = new Envelope(
    parseEncryptionKey(st.encryption_key),
    (st.previous_encryption_keys ?? []).map((k) => parseEncryptionKey(k)),
  )
  return new AcmeStoreStorage(store, { directoryUrl: directoryUrl(acme.directory), envelope, ...(onError === undefined ? {} : { onError }) })
}

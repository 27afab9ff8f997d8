// Encryption at rest for values Portico keeps in shared services: ACME state in the Store (fleet
// mode) and secrets in a config center. AES-256-GCM with a key from the config, a random 12-byte IV
// per value, and the key's id in the envelope, so a rotated key still opens what the previous one
// sealed and a value sealed with an unknown key fails with a message that names the key id, never
// a key. Where the value belongs (its Store key, its resource) is the additional authenticated
// data: a ciphertext moved elsewhere fails to open instead of being used.
//
// Envelope: "pe1.<kid>.<iv base64url>.<ciphertext||tag base64url>" (kid: 8 hex of a SHA-256 of the key).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

const VERSION = 'pe1'
const IV_BYTES = 12
const TAG_BYTES = 16

export function keyId(key: Buffer): string {
  return createHash('sha256').update('portico-acme-key-id\0').update(key).digest('hex').slice(0, 8)
}

export class Envelope {
  readonly #current: { id: string; key: Buffer }
  readonly #byId = new Map<string, Buffer>()

  /** `current` seals; it and `previous` open. Keys as parseEncryptionKey returns them. */
  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    this.#current = { id: keyId(current), key: current }
    for (const k of [current, ...previous]) this.#byId.set(keyId(k), k)
  }

  get keyId(): string {
    return this.#current.id
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES)
    const c = createCipheriv('aes-256-gcm', this.#current.key, iv)
    c.setAAD(Buffer.from(aad))
    const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final(), c.getAuthTag()])
    return `${VERSION}.${this.#current.id}.${iv.toString('base64url')}.${body.toString('base64url')}`
  }

  open(envelope: string, aad: string): string {
    const parts = envelope.split('.')
    if (parts.length !== 4 || parts[0] !== VERSION) throw new Error('not a Portico encrypted value (unknown envelope version)')
    const key = this.#byId.get(parts[1]!)
    if (key === undefined) throw new Error(`sealed with key ${parts[1]}, which is neither the current key nor one of the previous keys`)
    const iv = Buffer.from(parts[2]!, 'base64url')
    const body = Buffer.from(parts[3]!, 'base64url')
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new Error('truncated encrypted value')
    const d = createDecipheriv('aes-256-gcm', key, iv)
    d.setAAD(Buffer.from(aad))
    d.setAuthTag(body.subarray(body.length - TAG_BYTES))
    try {
      return Buffer.concat([d.update(body.subarray(0, body.length - TAG_BYTES)), d.final()]).toString('utf8')
    } catch {
      throw new Error(`encrypted value does not authenticate under key ${parts[1]} (tampered, or moved from another key)`)
    }
  }

  /** Whether a value was sealed with an older key (for re-sealing after a rotation). */
  isStale(envelope: string): boolean {
    return envelope.split('.')[1] !== this.#current.id
  }
}

// Secrets of config-center resources sealed at rest (config_center.<center>.secrets): a write
// through the admin API stores every secret field (the keys redact.ts treats as write-only: jwt
// `secret`, key-auth keys, passwords, …) as "sealed:<envelope>" (core/envelope.ts, AES-256-GCM, the
// key's id inside), so etcd, its backups and anyone with `etcdctl get` see no credential. Reading
// opens every sealed value before the document is validated, with the resource's key as the
// authenticated data: a sealed value copied into another resource does not open. References
// (${env:…}, ${file:…}) are not secrets and stay as they are.
//
// Rotation without downtime: the new key becomes `encryption_key` and the old one goes to
// `previous_encryption_keys`;
// values sealed with either open, and every write seals with the current key.
import type { Envelope } from '../../core/envelope.js'
import { isPureReference, isSecretKey } from '../admin/redact.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export const SEALED_PREFIX = 'sealed:'

/** `v` with every secret string sealed (already sealed ones and references kept). */
export function sealSecrets(v: unknown, envelope: Envelope, aad: string, key = '', inSecret = false): unknown {
  const secret = inSecret || isSecretKey(key)
  if (typeof v === 'string') return secret && !v.startsWith(SEALED_PREFIX) && !isPureReference(v) ? SEALED_PREFIX + envelope.seal(v, aad) : v
  if (Array.isArray(v)) return v.map((x) => sealSecrets(x, envelope, aad, key, secret))
  if (isObj(v)) {
    const out: Obj = {}
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: sealSecrets(v[k], envelope, aad, k, secret), enumerable: true, writable: true, configurable: true })
    return out
  }
  return v
}

export class SealedValueError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message)
  }
}

/**
 * `v` with every sealed string opened. Throws SealedValueError naming the field when one does not
 * open (no key configured, an unknown key id, tampered, or moved from another resource).
 */
export function openSecrets(v: unknown, envelope: Envelope | null, aad: string, path = ''): unknown {
  if (typeof v === 'string') {
    if (!v.startsWith(SEALED_PREFIX)) return v
    if (envelope === null) throw new SealedValueError(path, 'a sealed value, but config_center secrets.encryption_key is not set')
    try {
      return envelope.open(v.slice(SEALED_PREFIX.length), aad)
    } catch (err) {
      throw new SealedValueError(path, (err as Error).message)
    }
  }
  if (Array.isArray(v)) return v.map((x, i) => openSecrets(x, envelope, aad, `${path}[${i}]`))
  if (isObj(v)) {
    const out: Obj = {}
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: openSecrets(v[k], envelope, aad, path === '' ? k : `${path}.${k}`), enumerable: true, writable: true, configurable: true })
    return out
  }
  return v
}

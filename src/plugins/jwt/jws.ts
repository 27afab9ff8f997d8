// Compact JWS (RFC 7515 §7.1) parsed and verified synchronously with node:crypto and KeyObjects
// made when the config or a key set is loaded.
//
// Why not jose here: jose 6 verifies through WebCrypto (crypto.subtle), asynchronous and through the
// libuv thread pool on every call. Measured on one core (issue 12): HS256 70–95 µs with jwtVerify
// against 8.5 µs synchronous; ES256 112 vs 61 µs. An invalid token cost the same as a valid one.
// jose's rules are kept (test/unit/plugins/jwt-differential.test.ts runs both over thousands of
// tokens), with three deliberate differences, all refusals where jose accepts: base64url is strict
// (no "=" padding, no whitespace, no non-zero trailing bits), any "crit" is refused (jose knows
// "b64"; a JWT never needs it), and keys that cannot do an allowed algorithm fail at load.
//
// parse() does every check that needs no key, in this order, and names the first that fails: the
// three-part structure, strict base64url, the header as a JSON object, no "crit", an "alg" this
// route allows, the signature length that alg implies. Only then is a key touched.
import { Buffer, isUtf8 } from 'node:buffer'
import { constants, createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import type { JwsAlg } from './schema.js'

/** Why a token was refused; the label of portico_jwt_refusals_total. */
export type Refusal =
  | 'size' // longer than max_token_size
  | 'structure' // not three non-empty dot-separated parts
  | 'encoding' // a part is not strict base64url
  | 'header' // the header is not a UTF-8 JSON object
  | 'crit' // the header has "crit"
  | 'alg' // "alg" missing or not allowed on this route ("none" never is)
  | 'signature_length' // the signature cannot belong to that alg
  | 'kid' // no key source or key fits the header's kid
  | 'signature' // the signature does not verify
  | 'payload' // the payload is not a UTF-8 JSON object
  | 'claims' // iss, aud, nbf, iat or a required claim
  | 'expired'
  | 'unavailable' // no key set to decide with

export const REFUSALS: readonly Refusal[] = [
  'size',
  'structure',
  'encoding',
  'header',
  'crit',
  'alg',
  'signature_length',
  'kid',
  'signature',
  'payload',
  'claims',
  'expired',
  'unavailable',
]

type Kind = 'hmac' | 'rsa' | 'pss' | 'ec' | 'eddsa'

export interface AlgSpec {
  readonly alg: JwsAlg
  readonly kind: Kind
  /** node:crypto digest name; null for EdDSA (the hash is part of the scheme). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null
  /** Signature bytes when the alg alone fixes them (HMAC, ECDSA P1363, Ed25519); 0 = the RSA modulus decides. */
  readonly sigBytes: number
  /** node's name for the ECDSA curve (asymmetricKeyDetails.namedCurve). */
  readonly curve?: string
  /** JWK "crv" (RFC 7518 §6.2.1.1, RFC 8037 §2), for choosing JWKS members. */
  readonly crv?: string
  /** JWK "kty" a key for this alg has. */
  readonly kty: 'oct' | 'RSA' | 'EC' | 'OKP'
  /** RSASSA-PSS salt length: the hash length (RFC 7518 §3.5). */
  readonly saltLength?: number
}

const spec = (alg: JwsAlg, kind: Kind, hash: AlgSpec['hash'], sigBytes: number, extra: Partial<AlgSpec> = {}): AlgSpec => {
  const kty = kind === 'hmac' ? 'oct' : kind === 'ec' ? 'EC' : kind === 'eddsa' ? 'OKP' : 'RSA'
  return Object.freeze({ alg, kind, hash, sigBytes, kty, ...extra })
}

export const ALGS: Readonly<Record<JwsAlg, AlgSpec>> = Object.freeze({
  HS256: spec('HS256', 'hmac', 'sha256', 32),
  HS384: spec('HS384', 'hmac', 'sha384', 48),
  HS512: spec('HS512', 'hmac', 'sha512', 64),
  RS256: spec('RS256', 'rsa', 'sha256', 0),
  RS384: spec('RS384', 'rsa', 'sha384', 0),
  RS512: spec('RS512', 'rsa', 'sha512', 0),
  PS256: spec('PS256', 'pss', 'sha256', 0, { saltLength: 32 }),
  PS384: spec('PS384', 'pss', 'sha384', 0, { saltLength: 48 }),
  PS512: spec('PS512', 'pss', 'sha512', 0, { saltLength: 64 }),
  ES256: spec('ES256', 'ec', 'sha256', 64, { curve: 'prime256v1', crv: 'P-256' }),
  ES384: spec('ES384', 'ec', 'sha384', 96, { curve: 'secp384r1', crv: 'P-384' }),
  ES512: spec('ES512', 'ec', 'sha512', 132, { curve: 'secp521r1', crv: 'P-521' }),
  EdDSA: spec('EdDSA', 'eddsa', null, 64, { crv: 'Ed25519' }),
})

/** RSA keys shorter than this are refused (RFC 7518 §3.3; jose and WebCrypto users alike). */
export const MIN_RSA_BITS = 2048

/**
 * Why `key` cannot verify `s`, or null when it can. Called when keys are loaded, never per token.
 */
export function keyMismatch(s: AlgSpec, key: KeyObject): string | null {
  if (s.kind === 'hmac') return key.type === 'secret' ? null : `${s.alg} needs a shared secret`
  if (key.type !== 'public') return `${s.alg} needs a public key`
  const type = key.asymmetricKeyType
  const details = key.asymmetricKeyDetails ?? {}
  switch (s.kind) {
    case 'rsa':
    case 'pss':
      if (type !== 'rsa' && !(s.kind === 'pss' && type === 'rsa-pss')) return `${s.alg} needs an RSA key, not ${type}`
      if ((details.modulusLength ?? 0) < MIN_RSA_BITS) return `${s.alg} needs an RSA key of at least ${MIN_RSA_BITS} bits`
      return null
    case 'ec':
      return type === 'ec' && details.namedCurve === s.curve ? null : `${s.alg} needs an EC ${s.crv} key`
    case 'eddsa':
      return type === 'ed25519' ? null : `${s.alg} needs an Ed25519 key`
  }
}

/** A key ready for one alg: the KeyObject and, for RSA, the signature length its modulus implies. */
export interface VerifyKey {
  readonly key: KeyObject
  readonly sigBytes: number
}

export function verifyKey(s: AlgSpec, key: KeyObject): VerifyKey {
  const sigBytes = s.sigBytes !== 0 ? s.sigBytes : Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
  return Object.freeze({ key, sigBytes })
}

export interface Parsed {
  readonly spec: AlgSpec
  readonly header: Readonly<Record<string, unknown>>
  /** header.kid as sent (any JSON type): only a string can match a key. */
  readonly kid: unknown
  /** "<header>.<payload>", ASCII: what the signature covers. */
  readonly signingInput: string
  readonly payload: string
  readonly signature: Buffer
}

// Strict base64url: the alphabet of RFC 4648 §5 and nothing else (Buffer.from(s, 'base64url')
// skips any other character silently, so it cannot be the check).
const B64URL = /^[A-Za-z0-9_-]+$/

function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65
  if (c >= 97 && c <= 122) return c - 71
  if (c >= 48 && c <= 57) return c + 4
  return c === 45 ? 62 : 63
}

/** Canonical unpadded base64url: the alphabet, a length that is not 1 mod 4, zero trailing bits. */
export function isBase64url(s: string): boolean {
  if (!B64URL.test(s)) return false
  const rem = s.length & 3
  if (rem === 1) return false
  if (rem === 0) return true
  const last = sextet(s.charCodeAt(s.length - 1))
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0
}

/** A plain JSON object (not an array, not null) from base64url that is already known valid; undefined otherwise. */
export function jsonObject(b64: string): Record<string, unknown> | undefined {
  const bytes = Buffer.from(b64, 'base64url')
  if (!isUtf8(bytes)) return undefined
  // A JSON object starts with "{" and ends with "}" (after optional whitespace); most garbage is
  // refused here, without JSON.parse's exception, whose stack trace costs ~30 µs.
  let a = 0
  let z = bytes.length - 1
  while (a < z && (bytes[a] === 0x20 || bytes[a] === 0x09 || bytes[a] === 0x0a || bytes[a] === 0x0d)) a++
  while (z > a && (bytes[z] === 0x20 || bytes[z] === 0x09 || bytes[z] === 0x0a || bytes[z] === 0x0d)) z--
  if (bytes[a] !== 0x7b || bytes[z] !== 0x7d) return undefined
  let v: unknown
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0 // the rest: the SyntaxError is dropped, so no stack to capture
  try {
    v = JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  } finally {
    Error.stackTraceLimit = limit
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
}

/**
 * Everything that needs no key. `allowed` maps each alg this route accepts to anything (the caller's
 * sources); an alg outside it is refused before any key is looked at.
 */
export function parse(token: string, allowed: ReadonlyMap<string, unknown>): Parsed | Refusal {
  const d1 = token.indexOf('.')
  const d2 = d1 === -1 ? -1 : token.indexOf('.', d1 + 1)
  if (d1 <= 0 || d2 <= d1 + 1 || d2 === token.length - 1 || token.indexOf('.', d2 + 1) !== -1) return 'structure'
  const h = token.slice(0, d1)
  const payload = token.slice(d1 + 1, d2)
  const sig = token.slice(d2 + 1)
  if (!isBase64url(h) || !isBase64url(payload) || !isBase64url(sig)) return 'encoding'
  const header = jsonObject(h)
  if (header === undefined) return 'header'
  if (header.crit !== undefined) return 'crit'
  const alg = header.alg
  if (typeof alg !== 'string' || !allowed.has(alg)) return 'alg'
  const s = ALGS[alg as JwsAlg]
  // 4 base64url characters carry 3 bytes; a length the alg cannot have is refused before decoding.
  if (s.sigBytes !== 0 && sig.length !== Math.ceil((s.sigBytes * 4) / 3)) return 'signature_length'
  return { spec: s, header, kid: header.kid, signingInput: token.slice(0, d2), payload, signature: Buffer.from(sig, 'base64url') }
}

const PSS = constants.RSA_PKCS1_PSS_PADDING

/** The signature check with one key. Never throws: a key or signature node cannot use is a mismatch. */
export function signatureValid(p: Parsed, k: VerifyKey): boolean {
  const s = p.spec
  const sig = p.signature
  if (sig.length !== k.sigBytes) return false
  try {
    if (s.kind === 'hmac') {
      const mac = createHmac(s.hash!, k.key).update(p.signingInput, 'latin1').digest()
      return timingSafeEqual(mac, sig)
    }
    const data = Buffer.from(p.signingInput, 'latin1')
    switch (s.kind) {
      case 'rsa':
        return verify(s.hash, data, k.key, sig)
      case 'pss':
        return verify(s.hash, data, { key: k.key, padding: PSS, saltLength: s.saltLength! }, sig)
      case 'ec':
        return verify(s.hash, data, { key: k.key, dsaEncoding: 'ieee-p1363' }, sig)
      case 'eddsa':
        return verify(null, data, k.key, sig)
    }
  } catch {
    return false
  }
}

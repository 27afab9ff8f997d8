// OCSP stapling: for each served certificate whose leaf names an OCSP responder (AIA) and whose
// chain carries the issuer, fetch a response in the background (RFC 6960 request over HTTP POST),
// keep it, refresh it hourly (every 5 minutes after a failure), and hand it to handshakes that ask
// (status_request). A missing or failed response never fails a handshake: nothing is stapled.
// The request is a few fixed DER structures, written here: no OCSP library is needed for that.
import { createHash, type X509Certificate } from 'node:crypto'
import { request } from 'undici'
import type { Logger } from 'pino'
import type { LoadedCertificate } from './certificate.js'

const REFRESH_MS = 60 * 60_000
const RETRY_MS = 5 * 60_000
const TIMEOUT_MS = 5_000

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}
const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([tag]), len(body.length), body])
}

/** Reads one TLV at `at`: tag, start of value, end. */
function read(der: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = der[at]!
  let l = der[at + 1]!
  let start = at + 2
  if (l & 0x80) {
    const n = l & 0x7f
    l = 0
    for (let i = 0; i < n; i++) l = (l << 8) | der[at + 2 + i]!
    start += n
  }
  return { tag, start, end: start + l }
}

/** The DER of the leaf's issuer Name (TBSCertificate field after version, serial, signature). */
function issuerNameDer(leaf: X509Certificate): Buffer {
  const der = leaf.raw
  const cert = read(der, 0)
  const tbs = read(der, cert.start)
  let at = tbs.start
  let f = read(der, at)
  if (f.tag === 0xa0) f = read(der, (at = f.end)) // explicit version
  const sigAlg = read(der, (at = f.end)) // serial → signature
  const issuer = read(der, sigAlg.end)
  return der.subarray(sigAlg.end, issuer.end)
}

/** The subjectPublicKey BIT STRING contents (no unused-bits byte) of a certificate. */
function publicKeyBits(x: X509Certificate): Buffer {
  const spki = x.publicKey.export({ type: 'spki', format: 'der' })
  const seq = read(spki, 0)
  const alg = read(spki, seq.start)
  const bits = read(spki, alg.end)
  return spki.subarray(bits.start + 1, bits.end)
}

export function ocspRequest(leaf: X509Certificate, issuer: X509Certificate): Buffer {
  const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest()
  const alg = tlv(0x30, Buffer.from('06052b0e03021a', 'hex'), Buffer.from('0500', 'hex'))
  let serial = Buffer.from(leaf.serialNumber.length % 2 === 1 ? `0${leaf.serialNumber}` : leaf.serialNumber, 'hex')
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial])
  const certId = tlv(0x30, alg, tlv(0x04, sha1(issuerNameDer(leaf))), tlv(0x04, sha1(publicKeyBits(issuer))), tlv(0x02, serial))
  return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certId))))
}

/** responseStatus of an OCSPResponse: 0 = successful. */
export function ocspResponseStatus(der: Buffer): number {
  const seq = read(der, 0)
  const st = read(der, seq.start)
  return st.tag === 0x0a ? der[st.start]! : -1
}

interface Entry {
  cert: LoadedCertificate
  response: Buffer | null
  timer: NodeJS.Timeout | undefined
}

export class OcspStapler {
  readonly #byLeaf = new Map<string, Entry>()
  readonly #log: Logger

  constructor(log: Logger) {
    this.#log = log
  }

  /** Follow exactly these certificates (new ones fetched, gone ones dropped). */
  track(certs: readonly LoadedCertificate[]): void {
    const want = new Map(certs.filter((c) => c.ocspUrl !== null && c.issuerCert !== null).map((c) => [c.leaf.raw.toString('base64'), c]))
    for (const [k, e] of this.#byLeaf) {
      if (!want.has(k)) {
        clearTimeout(e.timer)
        this.#byLeaf.delete(k)
      }
    }
    for (const [k, c] of want) {
      if (this.#byLeaf.has(k)) continue
      const e: Entry = { cert: c, response: null, timer: undefined }
      this.#byLeaf.set(k, e)
      void this.#fetch(e)
    }
  }

  async #fetch(e: Entry): Promise<void> {
    let next = REFRESH_MS
    try {
      const res = await request(e.cert.ocspUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
        body: ocspRequest(e.cert.leaf, e.cert.issuerCert!),
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      })
      const body = Buffer.from(await res.body.arrayBuffer())
      if (res.statusCode !== 200 || ocspResponseStatus(body) !== 0) throw new Error(`responder answered ${res.statusCode}, status ${ocspResponseStatus(body)}`)
      e.response = body
      this.#log.debug({ certificate: e.cert.name }, 'ocsp response fetched')
    } catch (err) {
      next = RETRY_MS
      this.#log.warn({ certificate: e.cert.name, err: (err as Error).message }, 'ocsp fetch failed; not stapling until it succeeds')
    }
    if (this.#byLeaf.get(e.cert.leaf.raw.toString('base64')) !== e) return
    e.timer = setTimeout(() => void this.#fetch(e), next)
    e.timer.unref()
  }

  /** The response to staple for a served certificate (DER, as the handshake gives it), or null. */
  response(certDer: Buffer): Buffer | null {
    return this.#byLeaf.get(certDer.toString('base64'))?.response ?? null
  }

  /** Settles once every tracked certificate has a response (tests). */
  ready(): boolean {
    return [...this.#byLeaf.values()].every((e) => e.response !== null)
  }

  close(): void {
    for (const e of this.#byLeaf.values()) clearTimeout(e.timer)
    this.#byLeaf.clear()
  }
}

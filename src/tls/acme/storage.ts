// Where ACME state lives for a single instance: a local directory shared by the primary (which
// writes) and its workers (which read certificates and HTTP-01 tokens).
//   account.key            the ACME account key (PEM), made once
//   account.url            the account URL at the CA
//   certificates/<name>/   cert.pem (chain), key.pem, meta.json ({ names, order_url, issued_at })
//   challenges/<token>     key authorizations of pending HTTP-01 challenges
//   challenges/tls-alpn-01/<name>.json  { cert, key } of a pending TLS-ALPN-01 challenge (RFC 8737)
//   demands/<name>         on-demand TLS: a worker had a handshake for this name (empty file)
//   refused/<name>         on-demand TLS: the primary will not issue it now (the reason, for logs)
// Every write is a temp file then a rename, so a reader never sees half a file; the key is
// written before the certificate, so a watcher that sees the new certificate finds its key.
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/
const NAME = /^[A-Za-z0-9_.-]+$/
/** A DNS name as a TLS-ALPN-01 identifier (never a wildcard, RFC 8737 §3). */
const HOST = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/

export interface AlpnChallenge {
  cert: string
  key: string
}

export interface StoredCertificate {
  name: string
  certPem: string
  keyPem: string
  names: string[]
}

/**
 * An issuance lock on one certificate (fleet mode: in the Store, with expiry and a fencing token;
 * one instance: nothing to share, always granted with fence 0).
 */
export interface AcmeLock {
  /** Monotonic per certificate: every acquisition gets a larger one. */
  readonly fence: number
  /** Random token naming this holder (the lock's value in the Store). */
  readonly owner: string
  /** true once a renewal found the lock expired or taken: the order must not be finalized. */
  readonly lost: boolean
  release(): Promise<void>
}

/** A certificate write refused because a newer lock holder exists (its fence is larger). */
export class FencedOutError extends Error {
  readonly code = 'PORTICO_ACME_FENCED_OUT'
}

/** What the workers read while a challenge is pending (HTTP-01 tokens, TLS-ALPN-01 certificates). */
export interface ChallengeReader {
  challenge(token: string): Promise<string | null>
  /** The pending TLS-ALPN-01 certificate for a server name, or null. */
  alpnChallenge(name: string): Promise<AlpnChallenge | null>
}

/**
 * Where the manager keeps ACME state: the local directory (one instance) or the shared Store
 * (fleet mode, store.ts). The workers serve certificates from the local directory in both modes
 * (in fleet mode the primary mirrors the Store's certificates there).
 */
export interface AcmeStorage extends ChallengeReader {
  readonly kind: 'directory' | 'redis'
  init(): Promise<void>
  accountKey(): Promise<string | null>
  /** Saves the account key unless one exists; returns the key in force (another instance's may have won). */
  saveAccountKey(pem: string): Promise<string>
  accountUrl(): Promise<string | null>
  saveAccountUrl(url: string): Promise<void>
  certificate(name: string): Promise<StoredCertificate | null>
  certificateMeta(name: string): Promise<Record<string, unknown> | null>
  /** With a lock: refused (FencedOutError) when a newer holder took the lock since. */
  saveCertificate(c: StoredCertificate, meta: Record<string, unknown>, lock?: AcmeLock): Promise<void>
  certificateNames(): Promise<string[]>
  putChallenge(token: string, keyAuthorization: string): Promise<void>
  removeChallenge(token: string): Promise<void>
  putAlpnChallenge(name: string, c: AlpnChallenge): Promise<void>
  removeAlpnChallenge(name: string): Promise<void>
  /** The issuance lock of one certificate, or null while another instance holds it. */
  lock(name: string, ttlMs: number): Promise<AcmeLock | null>
  /** Calls onChange when a certificate was published (by any instance); returns the unsubscribe. */
  watch(onChange: () => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

export class AcmeDirectory implements AcmeStorage {
  readonly kind = 'directory'
  readonly root: string
  readonly certificatesDir: string
  readonly challengesDir: string
  readonly alpnDir: string
  readonly demandsDir: string
  readonly refusedDir: string

  constructor(root: string) {
    this.root = resolve(root)
    this.certificatesDir = join(this.root, 'certificates')
    this.challengesDir = join(this.root, 'challenges')
    this.alpnDir = join(this.challengesDir, 'tls-alpn-01')
    this.demandsDir = join(this.root, 'demands')
    this.refusedDir = join(this.root, 'refused')
  }

  async init(): Promise<void> {
    await mkdir(this.certificatesDir, { recursive: true, mode: 0o700 })
    await mkdir(this.challengesDir, { recursive: true, mode: 0o700 })
    await mkdir(this.alpnDir, { recursive: true, mode: 0o700 })
    await mkdir(this.demandsDir, { recursive: true, mode: 0o700 })
    await mkdir(this.refusedDir, { recursive: true, mode: 0o700 })
  }

  async #write(file: string, data: string, mode = 0o600): Promise<void> {
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
    await writeFile(tmp, data, { mode })
    await rename(tmp, file)
  }

  async #read(file: string): Promise<string | null> {
    try {
      return await readFile(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
  }

  accountKey(): Promise<string | null> {
    return this.#read(join(this.root, 'account.key'))
  }
  async saveAccountKey(pem: string): Promise<string> {
    await this.#write(join(this.root, 'account.key'), pem)
    return pem
  }
  async accountUrl(): Promise<string | null> {
    return (await this.#read(join(this.root, 'account.url')))?.trim() ?? null
  }
  saveAccountUrl(url: string): Promise<void> {
    return this.#write(join(this.root, 'account.url'), url)
  }

  async certificate(name: string): Promise<StoredCertificate | null> {
    if (!NAME.test(name)) return null
    const dir = join(this.certificatesDir, name)
    const [certPem, keyPem, meta] = await Promise.all([this.#read(join(dir, 'cert.pem')), this.#read(join(dir, 'key.pem')), this.#read(join(dir, 'meta.json'))])
    if (certPem === null || keyPem === null) return null
    const names = meta === null ? [] : ((JSON.parse(meta) as { names?: string[] }).names ?? [])
    return { name, certPem, keyPem, names }
  }

  /** meta.json of a stored certificate (names, order_url, issued_at, on_demand), or null. */
  async certificateMeta(name: string): Promise<Record<string, unknown> | null> {
    if (!NAME.test(name)) return null
    const text = await this.#read(join(this.certificatesDir, name, 'meta.json'))
    return text === null ? null : (JSON.parse(text) as Record<string, unknown>)
  }

  async saveCertificate(c: StoredCertificate, meta: Record<string, unknown>, _lock?: AcmeLock): Promise<void> {
    const dir = join(this.certificatesDir, c.name)
    const files = async (d: string): Promise<void> => {
      await this.#write(join(d, 'meta.json'), JSON.stringify({ names: c.names, ...meta }))
      await this.#write(join(d, 'key.pem'), c.keyPem)
      await this.#write(join(d, 'cert.pem'), c.certPem, 0o644)
    }
    if (await this.#read(join(dir, 'cert.pem')).then((x) => x !== null)) return files(dir)
    // A first issuance: the directory appears whole (a rename), so a watcher of certificates/
    // never finds it half-written and waits for no event from inside it.
    const tmp = await mkdtemp(join(this.root, 'tmp-'))
    await files(tmp)
    await rm(dir, { recursive: true, force: true })
    await rename(tmp, dir)
  }

  /** Names of the stored certificates (directories under certificates/). */
  async certificateNames(): Promise<string[]> {
    try {
      return (await readdir(this.certificatesDir, { withFileTypes: true })).filter((d) => d.isDirectory() && NAME.test(d.name)).map((d) => d.name)
    } catch {
      return []
    }
  }

  async putChallenge(token: string, keyAuthorization: string): Promise<void> {
    if (!TOKEN.test(token)) throw new Error('invalid ACME token')
    return this.#write(join(this.challengesDir, token), keyAuthorization, 0o644)
  }
  async removeChallenge(token: string): Promise<void> {
    if (TOKEN.test(token)) await rm(join(this.challengesDir, token), { force: true })
  }
  challenge(token: string): Promise<string | null> {
    if (!TOKEN.test(token)) return Promise.resolve(null)
    return this.#read(join(this.challengesDir, token))
  }

  /** The validation certificate for `name` while its TLS-ALPN-01 challenge is pending. */
  async putAlpnChallenge(name: string, c: AlpnChallenge): Promise<void> {
    const n = name.toLowerCase()
    if (!HOST.test(n)) throw new Error('invalid TLS-ALPN-01 identifier')
    return this.#write(join(this.alpnDir, `${n}.json`), JSON.stringify(c))
  }
  async removeAlpnChallenge(name: string): Promise<void> {
    const n = name.toLowerCase()
    if (HOST.test(n)) await rm(join(this.alpnDir, `${n}.json`), { force: true })
  }
  async alpnChallenge(name: string): Promise<AlpnChallenge | null> {
    const n = name.toLowerCase()
    if (!HOST.test(n)) return null
    const text = await this.#read(join(this.alpnDir, `${n}.json`))
    return text === null ? null : (JSON.parse(text) as AlpnChallenge)
  }

  /** On-demand: ask the primary for a certificate for `name` (once; an existing demand stands). */
  async putDemand(name: string): Promise<void> {
    const n = name.toLowerCase()
    if (!HOST.test(n) || isIP(n) !== 0) return
    await writeFile(join(this.demandsDir, n), '', { flag: 'wx', mode: 0o600 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err
    })
  }
  /** Pending demands, oldest first is not promised. */
  async demands(): Promise<string[]> {
    try {
      return (await readdir(this.demandsDir)).filter((n) => HOST.test(n))
    } catch {
      return []
    }
  }
  async removeDemand(name: string): Promise<void> {
    if (HOST.test(name)) await rm(join(this.demandsDir, name), { force: true })
  }
  /** The primary will not issue `name` now: waiting handshakes give up at once. */
  refuse(name: string, reason: string): Promise<void> {
    if (!HOST.test(name)) return Promise.resolve()
    return this.#write(join(this.refusedDir, name), reason)
  }
  async clearRefusal(name: string): Promise<void> {
    if (HOST.test(name)) await rm(join(this.refusedDir, name), { force: true })
  }

  /** One instance: the manager already runs one order per certificate at a time. */
  lock(): Promise<AcmeLock> {
    return Promise.resolve({ fence: 0, owner: 'local', lost: false, release: () => Promise.resolve() })
  }

  /** One instance: the workers watch the directory themselves. */
  watch(): Promise<() => Promise<void>> {
    return Promise.resolve(() => Promise.resolve())
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}

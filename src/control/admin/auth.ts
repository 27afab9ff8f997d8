// Admin API authentication: bearer tokens with roles, stored in the config as SHA-256 hashes.
// The presented token is hashed once and compared with every stored hash in constant time (no
// early exit, equal-length digests), so neither the match position nor the length leaks.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Config } from '../../config/schema/index.js'

export type Role = 'admin' | 'editor' | 'viewer'

export interface Principal {
  /** Token name from admin.tokens; "default" for admin.token; "anonymous" when no token is configured (loopback only). */
  name: string
  role: Role
}

/** What a request needs: read (viewer), config writes (editor), everything else (admin). */
export type Need = 'read' | 'write' | 'admin'

const RANK: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 }
const NEED_RANK: Record<Need, number> = { read: 0, write: 1, admin: 2 }

export function allows(role: Role, need: Need): boolean {
  return RANK[role] >= NEED_RANK[need]
}

interface Entry {
  name: string
  role: Role
  digest: Buffer
}

const sha256 = (s: string) => createHash('sha256').update(s).digest()

export class AdminAuth {
  #entries: Entry[]

  constructor(admin: Config['admin']) {
    const entries: Entry[] = []
    if (admin?.token !== undefined && admin.token !== '') entries.push({ name: 'default', role: 'admin', digest: sha256(admin.token) })
    for (const t of admin?.tokens ?? []) entries.push({ name: t.name, role: t.role, digest: Buffer.from(t.sha256, 'hex') })
    this.#entries = entries
  }

  /** No token configured: the listener is loopback-only (resolveAdminListen enforces it) and open. */
  get open(): boolean {
    return this.#entries.length === 0
  }

  /** The principal behind an Authorization header, or null. */
  authenticate(header: string | undefined): Principal | null {
    if (this.open) return { name: 'anonymous', role: 'admin' }
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (m === null) return null
    const presented = sha256(m[1]!)
    let found: Entry | null = null
    for (const e of this.#entries) {
      if (timingSafeEqual(presented, e.digest) && found === null) found = e
    }
    return found === null ? null : { name: found.name, role: found.role }
  }
}

const cache = new WeakMap<object, AdminAuth>()

/** One AdminAuth per serving config object, so token changes apply with the next config version. */
export function authFor(config: Config): AdminAuth {
  const key = config.admin ?? config
  let a = cache.get(key)
  if (a === undefined) {
    a = new AdminAuth(config.admin)
    cache.set(key, a)
  }
  return a
}

// `portico revoke`: asks the running gateway's admin API (POST /admin/revocations) to revoke a
// token. Going through the admin API rather than to Redis directly keeps one write path (the
// primary's, with its validation and audit log line), needs no Redis credentials or network path
// on the operator's machine, and reuses admin.token for authorization.
import { request } from 'undici'
import { loadConfigFile } from '../config/load.js'
import { formatErrors } from '../config/errors.js'
import { adminDispatcher } from './admin-client.js'
import { DEFAULT_ADMIN_LISTEN } from '../control/admin/server.js'
import { formatHostPort, parseListen } from '../core/address.js'
import { INSTALLED_CHECKS } from '../snapshot/installed-checks.js'

export class RevokeUsageError extends Error {}

/** Unix seconds from "1735689600" or an ISO 8601 date. */
export function parseTime(v: string, flag: string): number {
  if (/^\d+$/.test(v)) return Number(v)
  const ms = Date.parse(v)
  if (Number.isNaN(ms)) throw new RevokeUsageError(`${flag} must be unix seconds or an ISO 8601 date, got "${v}"`)
  return Math.floor(ms / 1000)
}

export interface RevokeArgs {
  config: string
  jti?: string | undefined
  exp?: string | undefined
  sub?: string | undefined
  before?: string | undefined
  ttl?: string | undefined
  /** Overrides the admin address from the config (http://host:port). */
  admin?: string | undefined
}

export async function revokeCommand(a: RevokeArgs): Promise<number> {
  if ((a.jti === undefined) === (a.sub === undefined)) throw new RevokeUsageError('give exactly one of --jti or --sub')
  if (a.jti !== undefined && (a.before !== undefined || a.ttl !== undefined)) throw new RevokeUsageError('--before and --ttl go with --sub')
  if (a.sub !== undefined && a.exp !== undefined) throw new RevokeUsageError('--exp goes with --jti')
  const body: Record<string, unknown> = {}
  if (a.jti !== undefined) {
    body.jti = a.jti
    if (a.exp !== undefined) body.exp = parseTime(a.exp, '--exp')
  } else {
    body.sub = a.sub
    if (a.before !== undefined) body.before = parseTime(a.before, '--before')
    if (a.ttl !== undefined) body.ttl = /^\d+$/.test(a.ttl) ? Number(a.ttl) : a.ttl
  }

  const loaded = await loadConfigFile(a.config, { checks: INSTALLED_CHECKS })
  if (!loaded.ok) {
    process.stderr.write(formatErrors(loaded.errors) + '\n')
    return 1
  }
  const admin = loaded.config.admin
  let base = a.admin
  if (base === undefined) {
    const addr = parseListen(admin?.listen ?? DEFAULT_ADMIN_LISTEN, 'admin.listen', 'admin')
    // A wildcard bind is reachable on loopback.
    if (addr.host === '0.0.0.0') addr.host = '127.0.0.1'
    if (addr.host === '::') addr.host = '::1'
    base = `${admin?.tls !== undefined ? 'https' : 'http'}://${formatHostPort(addr)}`
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (admin?.token !== undefined && admin.token !== '') headers.authorization = `Bearer ${admin.token}`
  let res
  try {
    res = await request(`${base}/admin/revocations`, { method: 'POST', headers, body: JSON.stringify(body), headersTimeout: 10_000, bodyTimeout: 10_000, dispatcher: adminDispatcher() })
  } catch (err) {
    process.stderr.write(`portico revoke: cannot reach the admin API at ${base}: ${(err as Error).message}\n`)
    return 1
  }
  const text = await res.body.text()
  if (res.statusCode !== 201) {
    let message = text
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text
    } catch {
      // not JSON: print as is
    }
    process.stderr.write(`portico revoke: ${res.statusCode}: ${message}\n`)
    return 1
  }
  process.stdout.write(text + '\n')
  return 0
}

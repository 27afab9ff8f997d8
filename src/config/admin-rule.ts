// The admin listener rule, one for `portico validate` (config/validate.ts) and `start`
// (control/admin/server.ts resolveAdminListen): an admin listener off loopback needs admin.token or admin.tokens.
// The listen syntax is core/address.ts's (a bare admin port binds to loopback).
import { formatHostPort, isLoopback, parseListen } from '../core/address.js'

import { DEFAULT_ADMIN_LISTEN } from './defaults.js'

export { DEFAULT_ADMIN_LISTEN }

/** Why this admin listen/token pair may not start, or undefined when it may. Throws on a bad address. */
export function adminExposureProblem(listen: string | number | undefined, token: string | undefined, hasTokens = false): string | undefined {
  const addr = parseListen(listen ?? DEFAULT_ADMIN_LISTEN, 'admin.listen', 'admin')
  // admin.tokens (hashed, with roles) protects the listener as well as admin.token does.
  if (isLoopback(addr.host) || (token !== undefined && token !== '') || hasTokens) return undefined
  return (
    `admin.listen is ${formatHostPort(addr)}, which is not a loopback address, and admin.token is not set: ` +
    'anyone who can reach it could read /status and /metrics. Set admin.token (e.g. token: ${PORTICO_ADMIN_TOKEN}) ' +
    'or keep admin.listen on 127.0.0.1.'
  )
}

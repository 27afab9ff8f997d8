// The admin listener rule, one for `portico validate` (config/validate.ts) and `start`
// (control/admin/server.ts resolveAdminListen): an admin listener off loopback needs admin.token.
// Also the admin listen-address syntax it needs: "host:port", "[v6]:port", "port" or a number; a
// bare port binds to loopback, so exposing the admin listener is always a deliberate choice.
import net from 'node:net'

export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9180'

export interface HostPort {
  host: string
  port: number
}

export function parseListen(value: string | number, what: string): HostPort {
  if (typeof value === 'number') return { host: '127.0.0.1', port: value }
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(value)
  const m = v6 ?? /^([^:]*):(\d+)$/.exec(value) ?? /^()(\d+)$/.exec(value)
  const port = Number(m?.[2])
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`${what}: "${value}" is not a listen address (use host:port, [v6]:port or a port)`)
  }
  return { host: m[1] === '' ? '127.0.0.1' : m[1]!, port }
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  if (net.isIPv4(host)) return host.startsWith('127.')
  if (net.isIPv6(host)) {
    const h = host.toLowerCase()
    return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.startsWith('::ffff:127.')
  }
  return false
}

export function formatHostPort({ host, port }: HostPort): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`
}

/** Why this admin listen/token pair may not start, or undefined when it may. Throws on a bad address. */
export function adminExposureProblem(listen: string | number | undefined, token: string | undefined): string | undefined {
  const addr = parseListen(listen ?? DEFAULT_ADMIN_LISTEN, 'admin.listen')
  if (isLoopback(addr.host) || (token !== undefined && token !== '')) return undefined
  return (
    `admin.listen is ${formatHostPort(addr)}, which is not a loopback address, and admin.token is not set: ` +
    'anyone who can reach it could read /status and /metrics. Set admin.token (e.g. token: ${PORTICO_ADMIN_TOKEN}) ' +
    'or keep admin.listen on 127.0.0.1.'
  )
}

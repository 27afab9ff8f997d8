// Admin listen addresses: "host:port", "[v6]:port", "port" or a number. A bare port binds to
// loopback: exposing the admin listener must be a deliberate choice.
import net from 'node:net'

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

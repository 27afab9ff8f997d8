// Addresses, the ground floor's: listen addresses (one parser for every listener), the client
// address through trusted proxies, host and CIDR predicates used by validation, and the one
// hop-by-hop header list.
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net'

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): the one list, used by the proxy (never forwarded in either
 * direction) and by config validation (a plugin may not set them). They describe one connection, not
 * the message; a configured `transfer-encoding` or `connection` would desynchronise framing between
 * gateway and peer (request smuggling, hung clients), a forwarded `proxy-authorization` would leak
 * the client's proxy credentials upstream. `expect` is answered by the gateway itself (Node sends
 * 100 Continue) and undici refuses it; `host` is decided by preserve_host; `forwarded`/`x-forwarded-*`
 * are rebuilt by proxy/forward.ts.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
])

export interface HostPort {
  host: string
  port: number
}

/**
 * Where a bare port (`8080`, `"8080"`, `:8080`) binds, decided here once for every listener:
 * a data-plane listener is the gateway's public face, so it binds every IPv4 interface; the admin
 * listener binds loopback, because exposing the admin API must be a deliberate `host:port`.
 */
export const BARE_PORT_HOST = { dataplane: '0.0.0.0', admin: '127.0.0.1' } as const
export type ListenerKind = keyof typeof BARE_PORT_HOST

/** "host:port", "[v6]:port", "port" or a number → bind arguments. Throws naming `what`. */
export function parseListen(value: string | number, what: string, kind: ListenerKind): HostPort {
  const bare = BARE_PORT_HOST[kind]
  if (typeof value === 'number') return { host: bare, port: value }
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(value)
  const m = v6 ?? /^([^:]*):(\d+)$/.exec(value) ?? /^()(\d+)$/.exec(value)
  const port = Number(m?.[2])
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`${what}: "${value}" is not a listen address (use host:port, [v6]:port or a port)`)
  }
  return { host: m[1] === '' ? bare : m[1]!, port }
}

export function formatHostPort({ host, port }: HostPort): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  if (isIPv4(host)) return host.startsWith('127.')
  if (isIPv6(host)) {
    const h = host.toLowerCase()
    return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.startsWith('::ffff:127.')
  }
  return false
}

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?'
const HOST_RE = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`, 'i')

/** Exact hostname, IPv4 address, [IPv6] literal, or a "*." wildcard over a hostname. */
export function isHostPattern(h: string): boolean {
  if (h.startsWith('[') && h.endsWith(']')) return isIP(h.slice(1, -1)) === 6
  return h.length <= 253 && HOST_RE.test(h)
}

/** An IPv4/IPv6 address, or one with a prefix length in range (10.0.0.0/8, fd00::/8). */
export function isAddressOrCidr(v: string): boolean {
  const slash = v.indexOf('/')
  const addr = slash === -1 ? v : v.slice(0, slash)
  const family = isIP(addr)
  if (family === 0) return false
  if (slash === -1) return true
  const bits = v.slice(slash + 1)
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}

/** Host header → host name without port, lower-cased ('' when absent). */
export function hostName(h: string | undefined): string {
  if (h === undefined || h === '') return ''
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']')
    return (end === -1 ? h : h.slice(0, end + 1)).toLowerCase()
  }
  const colon = h.indexOf(':')
  return (colon === -1 ? h : h.slice(0, colon)).toLowerCase()
}

/** Trusted proxies, compiled once per Snapshot. */
export class TrustedProxies {
  readonly #list: BlockList
  readonly empty: boolean

  constructor(entries: readonly string[]) {
    this.#list = new BlockList()
    for (const e of entries) {
      const [addr, bits] = e.split('/') as [string, string | undefined]
      const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4'
      if (bits === undefined) this.#list.addAddress(addr, family)
      else this.#list.addSubnet(addr, Number(bits), family)
    }
    this.empty = entries.length === 0
  }

  has(addr: string): boolean {
    if (this.empty || addr === '') return false
    return this.#list.check(addr, isIP(addr) === 6 ? 'ipv6' : 'ipv4')
  }
}

/** Strips the IPv4-mapped prefix so logs and BlockList checks see 10.0.0.1, not ::ffff:10.0.0.1. */
export function plainAddress(addr: string | undefined): string {
  if (addr === undefined) return ''
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr
}

/**
 * The client address: the socket peer unless the peer is a trusted proxy, in which case walk
 * X-Forwarded-For from the right, skipping trusted hops (the rightmost untrusted address is the
 * first one a trusted hop vouches for; anything left of it could be spoofed by the client).
 */
export function clientAddress(peer: string, xff: string | string[] | undefined, trusted: TrustedProxies): string {
  if (xff === undefined || !trusted.has(peer)) return peer
  const list = (Array.isArray(xff) ? xff.join(',') : xff).split(',')
  for (let i = list.length - 1; i >= 0; i--) {
    const hop = plainAddress(list[i]!.trim())
    if (isIP(hop) === 0) return peer // garbage in the chain: trust nothing past the peer
    if (!trusted.has(hop)) return hop
  }
  return plainAddress(list[0]!.trim())
}

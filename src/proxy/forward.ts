// Header handling between client and upstream: hop-by-hop removal (RFC 9110 §7.6.1), the
// X-Forwarded-* family and Forwarded (RFC 7239) and Via. The hop-by-hop list and the client address
// through trusted proxies are core/address.ts's.
import { HOP_BY_HOP } from '../core/address.js'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { IDENTITY_HEADERS } from '../core/client-identity.js'

// x-client-cert-*: the mTLS identity (tls/identity.ts) is set by the gateway alone, on every listener:
// a client's own copies never reach the upstream, https listener or not.
const REQUEST_SKIP = new Set([
  ...HOP_BY_HOP,
  'host',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'forwarded',
  'via',
  'x-request-id',
  ...IDENTITY_HEADERS,
])

/** REQUEST_SKIP plus a Snapshot's identity headers, built once per Snapshot (keyed by its set). */
const skipSets = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>()

/**
 * The headers never taken from the client under a Snapshot whose auth plugins may set
 * `identity` upstream (Snapshot.identityHeaders): one set, so each header costs one lookup.
 */
export function requestSkipSet(identity: ReadonlySet<string> | null): ReadonlySet<string> {
  if (identity === null) return REQUEST_SKIP
  let set = skipSets.get(identity)
  if (set === undefined) {
    set = new Set([...REQUEST_SKIP, ...identity])
    skipSets.set(identity, set)
  }
  return set
}

/** Removes hop-by-hop headers, including those named in `Connection`. Mutates and returns `headers`. */
function connectionNamed(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return null
  const s = Array.isArray(value) ? value.join(',') : value
  if (s === 'keep-alive' || s === 'close' || s === 'Keep-Alive') return null
  return s.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '')
}

/**
 * This hop's Via entry, by the protocol the message was received with (RFC 9110 §7.6.3: the
 * received-protocol; HTTP's name is left out and HTTP/2's version is "2").
 */
export const VIA_HTTP1 = '1.1 portico'
export const VIA_HTTP2 = '2 portico'
const VIA_HTTP10 = '1.0 portico'

/** The Via entry of a request received as HTTP/`httpVersion` (IncomingMessage#httpVersion). */
export function viaOf(httpVersion: string): string {
  return httpVersion === '1.1' ? VIA_HTTP1 : httpVersion === '2.0' ? VIA_HTTP2 : httpVersion === '1.0' ? VIA_HTTP10 : `${httpVersion} portico`
}

/** RFC 9110 §7.6.3: this hop appended to a message's Via (either direction). */
function withVia(prior: string | string[] | undefined, hop: string): string {
  return prior === undefined ? hop : `${String(prior)}, ${hop}`
}

export interface ForwardInfo {
  peer: string
  proto: 'http' | 'https'
  /** Client Host header as sent (with port), or '' */
  host: string
  requestId: string
  trustedPeer: boolean
  /** Headers never taken from the client: requestSkipSet(Snapshot.identityHeaders). */
  skip: ReadonlySet<string>
  /** This hop's Via entry for the client's protocol (viaOf(req.httpVersion)); HTTP/1.1's if absent. */
  via?: string
}

/**
 * Builds the upstream request headers from the client's. One pass over the parsed headers; the
 * skip set is precomputed. Forwarding headers from an untrusted peer are dropped and rebuilt, so a
 * client cannot spoof its address to the upstream.
 */
export function upstreamRequestHeaders(src: IncomingHttpHeaders, info: ForwardInfo): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  const named = connectionNamed(src.connection)
  const skip = info.skip
  for (const name in src) {
    if (skip.has(name)) continue
    if (named !== null && named.includes(name)) continue
    out[name] = src[name]
  }
  // TE: trailers is the one TE value a proxy may pass on; nothing here needs it, so it is dropped.
  const priorXff = info.trustedPeer ? src['x-forwarded-for'] : undefined
  out['x-forwarded-for'] = priorXff === undefined ? info.peer : `${Array.isArray(priorXff) ? priorXff.join(', ') : priorXff}, ${info.peer}`
  const priorProto = info.trustedPeer ? src['x-forwarded-proto'] : undefined
  out['x-forwarded-proto'] = priorProto ?? info.proto
  const priorHost = info.trustedPeer ? src['x-forwarded-host'] : undefined
  if (priorHost !== undefined) out['x-forwarded-host'] = priorHost
  else if (info.host !== '') out['x-forwarded-host'] = info.host
  const priorFwd = info.trustedPeer ? src.forwarded : undefined
  const hop = forwardedHop(info.peer, info.proto, info.host)
  out.forwarded = priorFwd === undefined ? hop : `${priorFwd}, ${hop}`
  out.via = withVia(src.via, info.via ?? VIA_HTTP1)
  out['x-request-id'] = info.requestId
  return out
}

/** RFC 7239 §6: IPv6 nodes are quoted and bracketed. */
function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
function quoteIfNeeded(v: string): string {
  if (TOKEN.test(v)) return v
  // A Host with a port (":" is not a token character) is the usual case and has nothing to escape.
  return v.includes('"') || v.includes('\\') ? `"${v.replace(/["\\]/g, '\\$&')}"` : `"${v}"`
}

// The last Forwarded element built. Keep-alive connections from one client to one host send the
// same peer, scheme and Host request after request, so this one-entry memo skips the string
// building and the token check nearly always.
let lastPeer = ''
let lastProto = ''
let lastHost = ''
let lastHop = ''

/** RFC 7239 §4: this hop's element, `for=…;proto=…;host=…`. */
function forwardedHop(peer: string, proto: string, host: string): string {
  if (peer === lastPeer && host === lastHost && proto === lastProto) return lastHop
  lastHop = `for=${forwardedNode(peer)};proto=${proto}${host !== '' ? `;host=${quoteIfNeeded(host)}` : ''}`
  lastPeer = peer
  lastProto = proto
  lastHost = host
  return lastHop
}

/** A header list as res.writeHead takes it: [name, value, name, value, …]. */
export type HeaderList = Array<string | string[]>

/**
 * The client response's headers: the upstream's without hop-by-hop ones (RFC 9110 §7.6.1,
 * including those named in its `Connection`), `Via` appended, `x-request-id`, and the plugins'
 * extra headers over the upstream's. Built as a flat list, which res.writeHead takes without
 * walking an object: cheaper than deleting from undici's object (a delete turns it into a slow
 * dictionary) and handing that over. Routes with response plugins turn it into an object.
 */
export function responseHeaderList(headers: Record<string, string | string[]>, requestId: string, extra: Record<string, string | string[]> | null, hop: string = VIA_HTTP1): HeaderList {
  const named = headers.connection === undefined ? null : connectionNamed(headers.connection)
  const out: HeaderList = []
  const via = withVia(headers.via, hop)
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || (named !== null && named.includes(name))) continue
    if (name === 'via' || name === 'x-request-id' || (extra !== null && Object.hasOwn(extra, name))) continue
    out.push(name, headers[name]!)
  }
  if (extra === null) {
    out.push('via', via, 'x-request-id', requestId)
    return out
  }
  if (!Object.hasOwn(extra, 'via')) out.push('via', via)
  if (!Object.hasOwn(extra, 'x-request-id')) out.push('x-request-id', requestId)
  for (const k in extra) out.push(k, extra[k]!)
  return out
}

/** The list as an object (names are unique in it), for response plugins to read and change. */
export function headerObject(list: HeaderList): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (let i = 0; i < list.length; i += 2) out[list[i] as string] = list[i + 1]!
  return out
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:@/+=-]{1,128}$/
/** A client-supplied request id is kept only when it is short and harmless in logs and headers. */
export function validRequestId(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' && REQUEST_ID_RE.test(v) ? v : undefined
}

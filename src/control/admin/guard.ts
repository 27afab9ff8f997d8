// Browser-borne attacks on the admin listener, refused before any endpoint runs:
// - cross-site writes (CSRF): a hostile page can POST text/plain or a form to 127.0.0.1:9180
//   without a CORS preflight, so a write must say Content-Type: application/json (which a page can
//   only send cross-origin after a preflight the admin never grants);
// - a foreign Origin, or Sec-Fetch-Site cross-site / same-site (another port or subdomain), on any
//   request: the admin API is not for pages of other origins;
// - DNS rebinding: a page on evil.example whose name re-resolves to 127.0.0.1 is same-origin with
//   the admin to the browser, but its requests carry Host: evil.example. Host must be one of the
//   admin's names: an IP literal (rebinding needs a name), localhost / *.localhost (resolved to
//   loopback by the browser itself, RFC 6761), the name admin.listen binds to, or admin.hosts.
// Probes (/healthz, /readyz) are exempt: they reveal nothing and orchestrators call them by any name.
import type http from 'node:http'
import net from 'node:net'

export interface GuardRefusal {
  status: 403 | 415
  error: 'forbidden' | 'unsupported_media_type'
  message: string
}

const PROBES = new Set(['/healthz', '/readyz'])

/** The hostname part of a Host header value (brackets kept off an IPv6 literal), lower case. */
function hostname(host: string): string {
  const h = host.trim().toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end === -1 ? h : h.slice(1, end)
  }
  const colon = h.indexOf(':')
  return colon === -1 ? h : h.slice(0, colon)
}

export function compileGuard(boundHost: string, extraHosts: readonly string[] = []): (req: http.IncomingMessage, path: string) => GuardRefusal | undefined {
  const names = new Set(['localhost', ...extraHosts.map((h) => h.toLowerCase())])
  if (net.isIP(boundHost) === 0 && boundHost !== '') names.add(boundHost.toLowerCase())
  const hostOk = (host: string | undefined): boolean => {
    if (host === undefined || host === '') return false
    const name = hostname(host)
    return net.isIP(name) !== 0 || names.has(name) || name.endsWith('.localhost')
  }
  return (req, path) => {
    if (PROBES.has(path)) return undefined
    const h = req.headers
    if (!hostOk(h.host)) return { status: 403, error: 'forbidden', message: 'the Host header is not a name of this admin listener (add it to admin.hosts)' }
    const site = h['sec-fetch-site']
    if (site === 'cross-site' || site === 'same-site') return { status: 403, error: 'forbidden', message: 'cross-site requests are not accepted by the admin listener' }
    const origin = h.origin
    if (origin !== undefined && origin !== `http://${h.host}`) return { status: 403, error: 'forbidden', message: 'requests from another origin are not accepted by the admin listener' }
    if (req.method === 'POST') {
      const type = (h['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase()
      if (type !== 'application/json') return { status: 415, error: 'unsupported_media_type', message: 'admin writes need Content-Type: application/json' }
    }
    return undefined
  }
}

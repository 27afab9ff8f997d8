// node:tls / node:https clients for the TLS tests: a bare handshake (what certificate, which
// version, resumed or not) and one HTTPS request with a chosen SNI and Host.
import https from 'node:https'
import tls, { type ConnectionOptions, type PeerCertificate } from 'node:tls'

export interface Handshake {
  cert: PeerCertificate
  protocol: string | null
  reused: boolean
  authorized: boolean
  session: Buffer | undefined
  alpn: string | false | null
}

/** Completes a handshake (rejects on a TLS error or a close before it), then closes. */
export function handshake(port: number, opts: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts })
    s.on('session', (b: Buffer) => (session = b))
    s.once('error', reject)
    s.once('secureConnect', () => {
      const out = { cert: s.getPeerCertificate(), protocol: s.getProtocol(), reused: s.isSessionReused(), authorized: s.authorized, alpn: s.alpnProtocol }
      // TLS 1.3 tickets arrive after the handshake: wait for one (or a short read) before closing.
      const done = (): void => {
        s.end()
        resolve({ ...out, session: session ?? s.getSession() })
      }
      if (out.protocol === 'TLSv1.3' && session === undefined) {
        s.once('session', () => setImmediate(done))
        s.setTimeout(1000, done)
      } else done()
    })
  })
}

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json<T = Record<string, unknown>>(): T
}

export function get(
  port: number,
  o: { sni?: string; host?: string; path?: string; method?: string; headers?: Record<string, string>; ca?: string; cert?: string; key?: string; agent?: https.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: o.path ?? '/',
        method: o.method ?? 'GET',
        servername: o.sni,
        headers: { host: o.host ?? o.sni ?? 'localhost', ...o.headers },
        ...(o.ca === undefined ? { rejectUnauthorized: false } : { ca: o.ca, checkServerIdentity: () => undefined }),
        ...(o.cert === undefined ? {} : { cert: o.cert, key: o.key }),
        agent: o.agent ?? false,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
}

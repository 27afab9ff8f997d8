// The data-plane listeners of server.listeners (server.listen is the one-cleartext-listener
// shorthand): a cleartext or https server each, sharing the request handler, with the listener's
// hooks (scheme, https redirect, ACME HTTP-01 answers, TLS checks). TLS itself lives in src/tls.
import http from 'node:http'
import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { ListenerConfig, RedirectHttpsConfig } from '../../config/schema/tls.js'
import { createTlsListener, type TlsListener } from '../../tls/listener.js'
import type { ListenerHooks } from './hooks.js'
import type { AcmeDirectory } from '../../tls/acme/storage.js'

export interface BoundListener {
  readonly spec: ListenerConfig
  readonly server: http.Server
  readonly tls: TlsListener | null
}

/** server.listeners, or the shorthand's one cleartext listener. */
export function listenerSpecs(server: { listen?: string | number; listeners?: ListenerConfig[] } | undefined): ListenerConfig[] {
  return server?.listeners ?? [{ listen: server?.listen ?? '0.0.0.0:8080' }]
}

/** HTTP-01 challenge answers (tls/acme) run before the redirect, so a CA can always reach them. */
export type Front = (req: IncomingMessage, res: ServerResponse, host: string, path: string) => boolean

function redirectFront(r: RedirectHttpsConfig): Front {
  const port = r.port ?? 443
  const status = r.status ?? 308
  const suffix = port === 443 ? '' : `:${port}`
  return (req, res, host, path) => {
    const url = req.url ?? '/'
    const target = `https://${host}${suffix}${url.charCodeAt(0) === 47 ? url : path}`
    res.writeHead(status, { location: target, 'content-length': '0', connection: req.method === 'GET' || req.method === 'HEAD' ? 'keep-alive' : 'close' })
    res.end()
    return true
  }
}

function compose(fronts: Front[]): Front | null {
  if (fronts.length === 0) return null
  if (fronts.length === 1) return fronts[0]!
  return (req, res, host, path) => {
    for (const f of fronts) if (f(req, res, host, path)) return true
    return false
  }
}

export async function createListener(
  spec: ListenerConfig,
  options: http.ServerOptions,
  handlerFor: (hooks: ListenerHooks) => http.RequestListener,
  deps: { logger: Logger; cleartextFronts?: Front[]; acme?: AcmeDirectory },
): Promise<BoundListener> {
  if (spec.protocols?.includes('h2') === true) deps.logger.warn({ listen: spec.listen }, 'protocols: h2 is not served yet on this listener; HTTP/1.1 only')
  if (spec.tls === undefined) {
    const fronts = [...(deps.cleartextFronts ?? [])]
    if (spec.redirect_https !== undefined) fronts.push(redirectFront(spec.redirect_https))
    const server = http.createServer(options, handlerFor({ proto: 'http', front: compose(fronts), tls: null }))
    return { spec, server, tls: null }
  }
  const tls = await createTlsListener(spec.tls, { logger: deps.logger, ...(deps.acme === undefined ? {} : { acme: deps.acme }) })
  const server = https.createServer({ ...options, ...tls.serverOptions }, handlerFor({ proto: 'https', front: null, tls }))
  tls.attach(server)
  return { spec, server, tls }
}

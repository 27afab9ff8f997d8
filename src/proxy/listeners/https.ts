// An https listener: Node's https server (TLS, then the same HTTP/1.1 parser and limits as the
// cleartext listener) with the TLS side built by src/tls (certificates chosen by SNI, versions,
// tickets, OCSP, client certificates). Requests go to the shared entry (proxy/handler.ts) with
// scheme https and the TLS hooks: Host bound to the connection's certificate (421), HSTS, and the
// client certificate for plugins and upstream headers.
import https from 'node:https'
import type { HostPort } from '../../core/address.js'
import type { TlsListener } from '../../tls/listener.js'
import { checkContinue } from '../continue.js'
import { createHandler } from '../handler.js'
import { createUpgradeHandler } from '../upgrade.js'
import type { ProxyEnv } from '../env.js'
import { NodeListener, bind, clientErrorReply, serverOptions, type Listener, type ListenerLimits } from './http.js'

/** Binds one https listener at `at` (or listens on `handle`, see bind) serving `tls` (made by tls/listener.ts createTlsListener). */
export async function listenHttps(env: ProxyEnv, at: HostPort, limits: ListenerLimits, tls: TlsListener, handle?: object): Promise<Listener> {
  const hooks = { proto: 'https' as const, front: null, tls }
  const handler = createHandler(env, hooks)
  const server = https.createServer({ ...serverOptions(limits), ...tls.serverOptions }, handler)
  server.on('checkContinue', checkContinue(handler))
  server.on('clientError', clientErrorReply)
  // WebSocket over TLS (wss://): the same upgrade handler as the cleartext listener.
  server.on('upgrade', createUpgradeHandler(env, hooks, handler))
  tls.attach(server)
  const listener = new NodeListener(server, tls, limits)
  await bind(server, at, handle)
  return listener
}

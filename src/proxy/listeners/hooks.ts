// What a listener adds to the shared request handler (proxy/handler.ts): its scheme
// (X-Forwarded-Proto, Forwarded), an optional step before routing (ACME HTTP-01 answers, the https
// redirect), and its TLS side (Host/SNI binding, HSTS, the client certificate).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TlsListener } from '../../tls/listener.js'

/** Runs before routing; true = it answered the request (the handler does nothing more with it). */
export type Front = (req: IncomingMessage, res: ServerResponse, host: string, path: string) => boolean

export interface ListenerHooks {
  readonly proto: 'http' | 'https'
  /** null = nothing to run (no call per request). */
  readonly front: Front | null
  readonly tls: TlsListener | null
}

/** The fronts of a listener as one, in order (the first that answers wins), or null for none. */
export function composeFronts(fronts: readonly Front[]): Front | null {
  if (fronts.length === 0) return null
  if (fronts.length === 1) return fronts[0]!
  return (req, res, host, path) => {
    for (let i = 0; i < fronts.length; i++) if (fronts[i]!(req, res, host, path)) return true
    return false
  }
}

// What a listener adds to the shared request handler: its scheme (X-Forwarded-Proto, Forwarded),
// an optional step before routing (ACME HTTP-01 answers, the https redirect), and its TLS side.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TlsListener } from '../../tls/listener.js'

export interface ListenerHooks {
  readonly proto: 'http' | 'https'
  /** Runs before routing; true = it answered the request. null = nothing to run (no call per request). */
  readonly front: ((req: IncomingMessage, res: ServerResponse, host: string, path: string) => boolean) | null
  readonly tls: TlsListener | null
}

// A RequestContext for unit tests of plugins, balancers and splits: the real class over a minimal
// request (method, headers) and no response, with the fields a test usually sets.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { RequestContext } from '../../src/core/context.js'

export interface FakeContextOptions {
  method?: string
  headers?: Record<string, string>
  ip?: string
  path?: string
  query?: string
  route?: string
  consumer?: string
  claims?: Record<string, unknown>
}

export function fakeContext(opts: FakeContextOptions = {}): RequestContext {
  const req = { method: opts.method ?? 'GET', headers: opts.headers ?? {} } as unknown as IncomingMessage
  const c = new RequestContext(req, {} as ServerResponse, 'test-request', 0)
  c.clientIp = opts.ip ?? '10.0.0.1'
  c.path = opts.path ?? '/'
  c.query = opts.query ?? ''
  c.routeName = opts.route ?? 'test'
  c.consumer = opts.consumer
  c.claims = opts.claims
  return c
}

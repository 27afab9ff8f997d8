// A small request/response client over one Cluster, for plugins that call upstreams themselves
// (aggregate): picks a target through the cluster's balancer and health state, dispatches on the
// target's pool (the same keep-alive connections the proxy uses), buffers a bounded body and
// reports the outcome to passive health / latency-aware balancers. Not the proxy's hot path: a
// request through here is a buffered sub-request, with its own deadline.
import { performance } from 'node:perf_hooks'
import type { Dispatcher } from 'undici'
import type { Cluster } from './cluster.js'
import { failureReply } from './failure.js'
import { UpstreamCallError, type UpstreamCall, type UpstreamCaller, type UpstreamResult } from '../core/upstream-call.js'

class CallTimeout extends Error {}

export class UpstreamClient implements UpstreamCaller {
  readonly #cluster: Cluster

  constructor(cluster: Cluster) {
    this.#cluster = cluster
  }

  get name(): string {
    return this.#cluster.name
  }

  async request(call: UpstreamCall): Promise<UpstreamResult> {
    const cluster = this.#cluster
    const target = cluster.pick(call.ctx)
    if (target === undefined) throw new UpstreamCallError('no_healthy_target', `no healthy target in upstream ${cluster.name}`)
    const ac = new AbortController()
    const timer = setTimeout(() => ac.abort(new CallTimeout('timeout')), call.timeoutMs)
    const start = performance.now()
    target.inFlight++
    let headed = false
    try {
      const res = await target.pool(cluster.timeouts.connect).request({
        path: target.basePath + call.path,
        method: call.method as Dispatcher.HttpMethod,
        headers: { ...call.headers, host: target.hostHeader },
        signal: ac.signal,
        headersTimeout: call.timeoutMs,
        bodyTimeout: call.timeoutMs,
      })
      headed = true
      const now = performance.now()
      if (cluster.observed) cluster.observeStatus(target, res.statusCode, now - start, now)
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > call.maxBytes) {
          res.body.destroy()
          throw new UpstreamCallError('too_large', `response body larger than ${call.maxBytes} bytes`)
        }
        chunks.push(chunk)
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, size) }
    } catch (err) {
      if (err instanceof UpstreamCallError) throw err
      if (!headed && cluster.observed) {
        const now = performance.now()
        cluster.observeFailure(target, now - start, now, err as Error)
      }
      const code = (err as { code?: string }).code
      // The same classification as the proxy's exchange (failure.ts), folded into this API's codes.
      const reply = failureReply(err as Error, { total: call.timeoutMs, read: call.timeoutMs, perTry: undefined }, false)
      if (ac.signal.aborted || reply?.code === 'upstream_timeout') {
        throw new UpstreamCallError('timeout', `no complete response within ${call.timeoutMs}ms`)
      }
      throw new UpstreamCallError('unreachable', code === undefined ? 'the upstream could not be reached' : `the upstream could not be reached (${code})`)
    } finally {
      clearTimeout(timer)
      target.inFlight--
    }
  }
}

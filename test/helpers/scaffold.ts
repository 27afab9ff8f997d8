// The scaffold most plugin and security tests share: one origin (test/helpers/origin.ts) as upstream
// `o` of one in-process gateway (test/helpers/inproc.ts) with the routes under test, both closed
// when the suite ends.
//
//   describe('cors plugin', () => {
//     const gw = pluginGateway({ origin: handler, routes: `
//     - { name: api, paths: [/api/*], upstream: o, plugins: [ { name: cors } ] }
//   ` })
//     test('…', async () => { await request(`${gw.url}/api/x`); assert.equal(gw.up.seen.length, 1) })
//   })
//
// pluginGateway() registers its own before/after hooks in the suite it is called in (a describe
// body, or a file's top level), so the returned object's fields can be read from tests and from
// hooks registered after it. startPluginGateway() is the same without hooks, for a test that starts
// a gateway of its own and closes it itself.
import { before, after } from 'node:test'
import YAML from 'yaml'
import { startOrigin, echo, type Origin, type OriginHandler } from './origin.js'
import { startInProc, type InProcGateway } from './inproc.js'

/** A route list: YAML text of the items under `routes:`, or the route objects themselves. */
export type Routes = string | ReadonlyArray<Record<string, unknown>>

export interface PluginGatewayOptions {
  /** The origin's handler; echo (method, url, headers, body as JSON) by default. */
  origin?: OriginHandler
  /** The routes (they name upstream `o`); a function is called once the origin is up. */
  routes: Routes | ((up: Origin) => Routes)
  /** More top-level YAML (server, plugins, consumers, …); a function is called when the gateway starts. */
  extra?: string | ((up: Origin) => string)
  /** More keys of upstream `o`, as YAML flow-map entries, e.g. `timeouts: { read: 5s }`. */
  upstream?: string
}

export interface PluginGateway {
  /** The gateway's base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string
  readonly port: number
  /** The in-process gateway (its data plane, reload, close). */
  readonly gw: InProcGateway
  /** The origin behind upstream `o` (its url, the requests it has seen). */
  readonly up: Origin
  /** A full config document: upstream `o` pointing at the origin, `extra`, then `routes`. */
  config(routes: Routes, extra?: string): string
  /** Reloads the running gateway with a full YAML document (throws with the formatted errors). */
  reload(yaml: string): Promise<void>
  close(): Promise<void>
}

function routesYaml(routes: Routes): string {
  if (typeof routes === 'string') return routes
  // A block list, indented as the text form is.
  return YAML.stringify(routes)
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
}

function document(up: Origin, upstream: string | undefined, routes: Routes, extra: string | undefined): string {
  const more = upstream === undefined ? '' : `, ${upstream}`
  return `upstreams:\n  o: { targets: [ { url: ${up.url} } ]${more} }\n${extra ?? ''}\nroutes:\n${routesYaml(routes)}\n`
}

/** Starts the origin and the gateway; the caller closes them with close(). */
export async function startPluginGateway(opts: PluginGatewayOptions): Promise<PluginGateway> {
  const up = await startOrigin(opts.origin ?? echo)
  let gw: InProcGateway
  try {
    const routes = typeof opts.routes === 'function' ? opts.routes(up) : opts.routes
    const extra = typeof opts.extra === 'function' ? opts.extra(up) : opts.extra
    gw = await startInProc(document(up, opts.upstream, routes, extra))
  } catch (err) {
    await up.close()
    throw err
  }
  let closed: Promise<void> | undefined
  return {
    url: gw.url,
    port: gw.port,
    gw,
    up,
    config: (routes, extra) => document(up, opts.upstream, routes, extra),
    reload: (yaml) => gw.reload(yaml),
    // Once: the after hook of pluginGateway() may close what a test closed already.
    close: () =>
      (closed ??= (async () => {
        await gw.close()
        await up.close()
      })()),
  }
}

/**
 * Registers a before hook starting the origin and the gateway and an after hook closing them, in the
 * suite this is called in. The fields of the returned object throw when read before the hook ran.
 */
export function pluginGateway(opts: PluginGatewayOptions): PluginGateway {
  let started: PluginGateway | undefined
  const get = (): PluginGateway => {
    if (started === undefined) throw new Error('pluginGateway: read before its before hook ran (or it failed)')
    return started
  }
  before(async () => {
    started = await startPluginGateway(opts)
  })
  after(async () => {
    await started?.close()
  })
  return {
    get url() {
      return get().url
    },
    get port() {
      return get().port
    },
    get gw() {
      return get().gw
    },
    get up() {
      return get().up
    },
    config: (routes, extra) => get().config(routes, extra),
    reload: (yaml) => get().reload(yaml),
    close: () => get().close(),
  }
}

// oidc-provider ships no type declarations; the test helper uses only the constructor, callback()
// and the `on` of its Koa app. Typed loosely on purpose: this is a test dependency.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>)
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    on(event: string, listener: (...args: unknown[]) => void): this
    proxy: boolean
  }
}

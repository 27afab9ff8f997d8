// The package's public entry (package.json main/types): what an embedder or a plugin author
// imports. The CLI is bin/portico.js; this module starts nothing.
export { definePlugin, assertPluginDefinition, PHASES, type Phase, type PluginDefinition, type PluginEnv, type PluginInstance } from './plugins/contract.js'
export type { RequestContext, HeaderMap } from './core/context.js'
export type { LocalReply, Verdict, UpstreamHead, BodyRewrite, ExchangeTap, Completed } from './core/verdict.js'
export { ERRORS, localError, type ErrorCode } from './core/errors.js'
export { UpstreamCallError, type UpstreamCaller, type UpstreamCall, type UpstreamResult, type UpstreamFailure } from './core/upstream-call.js'
export type { Store } from './state/store.js'
export { createDataPlane, type DataPlane, type DataPlaneOptions, type DataPlaneStatus, type SnapshotMeta } from './dataplane/data-plane.js'
export { loadConfigFile, loadConfigText, type LoadResult, type LoadOptions } from './config/load.js'
export { documentChecks } from './snapshot/document-checks.js'
export type { Config } from './config/schema/index.js'
export { PORTICO_VERSION } from './core/version.js'
export type { PluginCheckContext, PluginIssue } from './plugins/contract.js'
// TypeBox, which plugin schemas are written in, from the gateway's own copy: a plugin imports it
// from here and needs no dependency of its own.
export { Type, type Static, type TSchema } from '@sinclair/typebox'

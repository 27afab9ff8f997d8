// The router: path normalization (the only place request paths are decoded) and the route table.
export { normalizePath } from './normalize.js'
export { RouteTable, checkPathPattern } from './table.js'
export type { RouteSpec, MatchResult } from './table.js'

/**
 * The route table: which route serves a request, given its host, method, normalized path and headers.
 *
 * Path patterns
 * - `/exact`: matches that path only.
 * - `/users/:id`: a parameter takes one whole, non-empty segment (`/users/` does not match).
 *   Names are letters, digits and `_`. A ':' inside a segment is literal (`/v1/models:predict`).
 * - `/files/*`: wildcard tail, only as the last segment. It matches `/files/` (with `*` = '') and
 *   everything below it, and NOT `/files` itself: write both patterns to serve both. The tail is
 *   captured as param `*`.
 * - `~^/regex$`: a JavaScript regular expression tested against the normalized path; anchor it
 *   yourself. Named groups become params. It runs on every request that reaches it and is not
 *   checked for catastrophic backtracking: keep it linear (no nested quantifiers).
 * - Patterns are written in normalized form (see normalize.ts): a pattern that normalization would
 *   change (`/a//b`, `/a/./b`, `/%7Euser`) could never match, so it is refused with the form to write.
 * - Paths are case-sensitive, and `/users` and `/users/` are different paths. find-my-way's
 *   `ignoreTrailingSlash` is off on purpose: a gateway forwards the path as received, and upstreams
 *   often serve the two differently (a directory index, a redirect), so folding them here would route
 *   one upstream's URL space onto another. Declare both patterns when both should be served.
 * - Params arrive already decoded by normalize.ts (unreserved escapes only); they are not decoded
 *   again, so `%2F`-style tricks cannot reappear inside a param.
 *
 * Hosts: `api.example.com` exact; `*.example.com` any subdomain at any depth (`a.b.example.com`),
 * never the apex `example.com` nor `evil-example.com`. The request host is given lower-cased and
 * without port. Omitted = any host.
 * Headers: name → exact value, or `~regex` tested (unanchored unless you anchor it) against the
 * value, repeated headers joined with ", ". A missing header never matches. All must match.
 * Methods: upper-case; omitted = any. HEAD is allowed wherever GET is.
 *
 * Precedence, best first:
 *   1. `priority` (higher wins; default 0);
 *   2. host specificity of the host that matched: exact > wildcard (longer suffix first) > no hosts;
 *   3. path class of the pattern that matched: exact > param (more literal segments first) >
 *      wildcard (longer prefix first) > regex;
 *   4. declaration order (route, then its paths, then its hosts).
 * Among the routes whose path AND host AND headers match, the method decides: the best route that
 * also allows the method wins; if none allows it the answer is 405 with `Allow` listing the union of
 * their methods; if no route matches path, host and headers the answer is 404. So a less specific
 * route still wins when a more specific one's host or header matchers fail, and `priority` can lift
 * a regex route above an exact one.
 *
 * How a match runs (everything below is precomputed in the constructor):
 * - Every param and wildcard pattern is registered once in one find-my-way router (`find()` only,
 *   under a single pseudo-method: methods are ours to check); exact patterns are in a Map, looked up
 *   first. Each pattern has a PatternNode holding the entries (route × path × host) that use it,
 *   sorted by precedence.
 * - find-my-way returns the first pattern P matching the path in its own order (depth first,
 *   literal before param before wildcard at each segment). The walk takes the first entry of P that
 *   passes host, headers and method. Then it walks P's "rivals", sorted by precedence: the entries
 *   of the other patterns that could still match a path P matched. Those are the regex patterns,
 *   and the param and wildcard patterns that overlap P segment by segment (tested exactly when P
 *   is a literal path) and that find-my-way tries after P; a pattern it tries earlier would have
 *   been returned had it matched, which also rules out every exact pattern. The walk stops at the
 *   first rival ranked below the winner so far, so in the common case it stops at once; the rivals
 *   exist so that priority, hosts, headers and methods can still pick another pattern.
 * - When find-my-way finds nothing, only regex routes can match: they are walked in order.
 * - A request costs one find-my-way lookup and a few comparisons; it allocates find-my-way's result
 *   with its params object and our result object, nothing else.
 * - find-my-way's compile() mode is not used: it halved the latency of a repeated lookup in
 *   bench/micro/router.ts, but was slower when traffic spreads over many routes (its generated code
 *   warms up per route, again after every reload, and grows with the table), and it adds to the
 *   build time of every reload. The tree walk is the predictable choice for a table rebuilt live.
 */
import type { IncomingHttpHeaders } from 'node:http'
import FindMyWay from 'find-my-way'
import { normalizePath } from './normalize.js'

export interface RouteSpec<T> {
  name: string
  /** Exact ("api.example.com") or wildcard ("*.example.com": any subdomain depth ≥ 1, not the apex). */
  hosts?: string[]
  /** Upper-case; omitted = any. */
  methods?: string[]
  /** "/exact", "/users/:id", "/files/*", "~^/regex$". */
  paths: string[]
  /** Header name → exact value, or "~regex" tested against the joined value. */
  headers?: Record<string, string>
  /** TLS server names (exact or "*.example.com"); omitted = any, including cleartext (sni ''). */
  snis?: string[]
  /** Default 0; higher wins. */
  priority?: number
  data: T
}

export type MatchResult<T> =
  | { kind: 'found'; data: T; name: string; params: Record<string, string | undefined> }
  | { kind: 'not_found' }
  | { kind: 'method_not_allowed'; allow: string }

type Params = Record<string, string | undefined>
type Router = ReturnType<typeof FindMyWay>

const CLASS_REGEX = 0
const CLASS_WILDCARD = 1
const CLASS_PARAM = 2
const CLASS_EXACT = 3

const HOST_ANY = 0
const HOST_WILDCARD = 1
const HOST_EXACT = 2

// find-my-way decodes the path it is given (decodeURI, then decodeURIComponent on params), which
// would decode a second time what normalize.ts deliberately kept encoded (`%20`, `%3A`), and it
// gives up on escapes that are not UTF-8 (`%C0%AE`). So find-my-way never sees a '%': it is
// swapped for DEL, which normalize.ts never lets through, in patterns and paths alike, and swapped
// back in params.
const SENTINEL = '\x7f'

const NOT_FOUND: MatchResult<never> = Object.freeze({ kind: 'not_found' })
const EMPTY_QUERY = Object.freeze({})
/** The params of no match: never handed out (a match always gets a fresh object). */
const NO_PARAMS: Params = Object.freeze({})
const noop = (): void => {}
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const METHOD = /^[A-Z][A-Z-]*$/

function newRouter(): Router {
  return FindMyWay({
    caseSensitive: true,
    ignoreTrailingSlash: false,
    ignoreDuplicateSlashes: false,
    // No length cap on params: the server's header-size limit already bounds the whole path, and a
    // cap would turn a long but valid id into a surprising 404.
    maxParamLength: Infinity,
    // Only find() is used and the query is split off before routing; this skips parsing ''.
    querystringParser: () => EMPTY_QUERY,
  })
}

type Segment = { kind: 'literal'; text: string } | { kind: 'param'; name: string } | { kind: 'wildcard' }

interface ParsedPath {
  cls: typeof CLASS_EXACT | typeof CLASS_PARAM | typeof CLASS_WILDCARD
  source: string
  segments: Segment[]
  /** Param names in order, '*' last for a wildcard: find-my-way's params object has these keys. */
  paramNames: string[]
  /** The pattern as find-my-way reads it. */
  fmwPattern: string
  /** Same shape with param names erased: find-my-way treats `/u/:id` and `/u/:name` as one route. */
  key: string
  /** Tie-break inside the class: literal segments for params, prefix length for wildcards. */
  specificity: number
  /** This pattern alone in a router of its own (PatternNode.alone); shared by every table that parses it. */
  alone?: Router
}

interface ParsedRegex {
  cls: typeof CLASS_REGEX
  regex: RegExp
}

function parsePattern(pattern: string): ParsedPath | ParsedRegex | string {
  if (pattern.length === 0) return 'path pattern is empty'
  if (pattern.startsWith('~')) {
    const body = pattern.slice(1)
    if (body.length === 0) return 'the regular expression after "~" is empty'
    try {
      return { cls: CLASS_REGEX, regex: new RegExp(body) }
    } catch (err) {
      return `invalid regular expression: ${(err as Error).message}`
    }
  }
  if (!pattern.startsWith('/')) return 'must start with "/" (or "~" for a regular expression)'
  if (pattern.includes('?')) return 'must not contain "?": routes match the path, never the query string'
  const normalized = normalizePath(pattern)
  if (normalized === undefined) {
    return (
      'is not a valid path: only visible ASCII is allowed, without "\\" or "#", percent-escapes must be ' +
      'valid and must not encode "/", "\\" or control characters, and ".;" segments are refused'
    )
  }
  if (normalized !== pattern) {
    return `never matches: requests are normalized before routing, so write it as "${normalized}"`
  }

  const parts = pattern.split('/').slice(1)
  const segments: Segment[] = []
  const paramNames: string[] = []
  let literals = 0
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string
    if (part.includes('*')) {
      if (part !== '*' || i !== parts.length - 1) return '"*" is only allowed as the whole last segment ("/prefix/*")'
      segments.push({ kind: 'wildcard' })
      paramNames.push('*')
    } else if (part.startsWith(':')) {
      const name = part.slice(1)
      if (!PARAM_NAME.test(name)) {
        return (
          `parameter "${part}" must be a whole segment named with letters, digits and "_" ` +
          '(use a ~regex path for partial segments or constrained values)'
        )
      }
      if (paramNames.includes(name)) return `parameter ":${name}" appears twice`
      segments.push({ kind: 'param', name })
      paramNames.push(name)
    } else {
      segments.push({ kind: 'literal', text: part })
      literals++
    }
  }
  const fmwPattern = toFmw(segments, (name) => `:${name}`)
  const key = toFmw(segments, () => ':')
  const last = segments[segments.length - 1]
  if (last?.kind === 'wildcard') {
    return { cls: CLASS_WILDCARD, source: pattern, segments, paramNames, fmwPattern, key, specificity: pattern.length - 1 }
  }
  if (paramNames.length > 0) {
    return { cls: CLASS_PARAM, source: pattern, segments, paramNames, fmwPattern, key, specificity: literals }
  }
  return { cls: CLASS_EXACT, source: pattern, segments, paramNames, fmwPattern, key, specificity: 0 }
}

function toFmw(segments: Segment[], param: (name: string) => string): string {
  let out = ''
  for (const s of segments) {
    // A literal ':' is written '::' for find-my-way, which would otherwise start a param there.
    out += '/' + (s.kind === 'literal' ? s.text.replaceAll(':', '::').replaceAll('%', SENTINEL) : s.kind === 'param' ? param(s.name) : '*')
  }
  return out
}

/**
 * null when `pattern` is a valid path pattern, else a message saying what is wrong with it.
 * Used by config validation to report bad patterns with line:col.
 */
export function checkPathPattern(pattern: string): string | null {
  const parsed = parsePattern(pattern)
  return typeof parsed === 'string' ? parsed : null
}

/** Could some path match both patterns? Exact for this grammar, except that it lets a param match ''. */
function mayOverlap(a: Segment[], b: Segment[]): boolean {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i] as Segment
    const y = b[i] as Segment
    if (x.kind === 'wildcard' || y.kind === 'wildcard') return true
    if (x.kind === 'literal' && y.kind === 'literal' && x.text !== y.text) return false
  }
  return a.length === b.length
}

interface HeaderMatcher {
  name: string
  exact: string
  regex: RegExp | null
}

/** One non-regex pattern in find-my-way: the entries using it, and the entries that may beat them. */
class PatternNode<T> {
  readonly parsed: ParsedPath
  readonly entries: Entry<T>[] = []
  rivals: Entry<T>[] = []
  /** Named params that must be non-empty (find-my-way lets a param match ''), or null. */
  readonly named: string[] | null
  constructor(parsed: ParsedPath) {
    this.parsed = parsed
    const named = parsed.paramNames.filter((n) => n !== '*')
    this.named = named.length > 0 ? named : null
  }

  /**
   * This pattern alone in a find-my-way router of its own, to test it as a rival. Built only for
   * the patterns that are some pattern's rival (at table build) and on first use otherwise (explain
   * tests any entry): one router per param/wildcard pattern was most of a 10,000-route table's
   * memory (~100 MB of the worker's heap for 7,500 patterns) and a third of its build time. It
   * depends on the pattern only, so it lives on the parsed pattern, which the next table reuses.
   */
  alone(): Router {
    const p = this.parsed
    if (p.alone === undefined) {
      p.alone = newRouter()
      p.alone.on('GET', p.fmwPattern, noop)
    }
    return p.alone
  }

  /** find-my-way's params are usable (no empty named param). */
  accepts(params: Params): boolean {
    const named = this.named
    if (named === null) return true
    for (let i = 0; i < named.length; i++) if (params[named[i] as string] === '') return false
    return true
  }
}

class Entry<T> {
  /** Position in the table's total order (lower is better); set once the order is known. */
  rank = 0
  readonly name: string
  readonly data: T
  readonly methods: ReadonlySet<string> | null
  readonly hostKind: number
  /** Exact host, or the suffix (".example.com") of a wildcard host. */
  readonly host: string
  readonly headers: readonly HeaderMatcher[] | null
  readonly snis: readonly { kind: number; value: string }[] | null
  readonly node: PatternNode<T> | null
  readonly regex: RegExp | null
  /** This entry's own param names when they differ from the node's (same shape, other names). */
  readonly renames: readonly string[] | null
  readonly priority: number
  readonly cls: number
  readonly specificity: number
  readonly order: number

  constructor(
    route: { name: string; data: T; methods: ReadonlySet<string> | null; headers: readonly HeaderMatcher[] | null; snis: readonly { kind: number; value: string }[] | null; priority: number },
    host: { kind: number; value: string },
    path: { node: PatternNode<T>; names: string[] } | RegExp,
    order: number,
  ) {
    this.name = route.name
    this.data = route.data
    this.methods = route.methods
    this.headers = route.headers
    this.snis = route.snis
    this.priority = route.priority
    this.hostKind = host.kind
    this.host = host.value
    this.order = order
    if (path instanceof RegExp) {
      this.node = null
      this.regex = path
      this.renames = null
      this.cls = CLASS_REGEX
      this.specificity = 0
    } else {
      this.node = path.node
      this.regex = null
      const canonical = path.node.parsed.paramNames
      this.renames = path.names.every((n, i) => n === canonical[i]) ? null : path.names
      this.cls = path.node.parsed.cls
      this.specificity = path.node.parsed.specificity
    }
  }

  /** Host, headers and method: everything but the path. */
  qualifies(host: string, method: string, headers: IncomingHttpHeaders, sni: string): boolean {
    return (
      this.hostMatches(host) &&
      (this.snis === null || sniMatches(this.snis, sni)) &&
      (this.headers === null || headersMatch(this.headers, headers)) &&
      (this.methods === null || this.methods.has(method))
    )
  }

  hostMatches(host: string): boolean {
    if (this.hostKind === HOST_ANY) return true
    if (this.hostKind === HOST_EXACT) return host === this.host
    return host.length > this.host.length && host.endsWith(this.host)
  }

  /** Tests the path against this entry's pattern alone (rivals and regex routes). */
  matchPath(path: string, fmwPath: string): Params | null {
    if (this.regex !== null) {
      const m = this.regex.exec(path)
      return m === null ? null : { ...m.groups }
    }
    const node = this.node as PatternNode<T>
    const hit = node.alone().find('GET', fmwPath)
    return hit !== null && node.accepts(hit.params) ? hit.params : null
  }

  /** Makes find-my-way's params this entry's: '%' restored, own param names. */
  ownParams(params: Params, hadPercent: boolean): Params {
    if (hadPercent) {
      for (const k in params) {
        const v = params[k]
        if (v !== undefined && v.includes(SENTINEL)) params[k] = v.replaceAll(SENTINEL, '%')
      }
    }
    const renames = this.renames
    if (renames === null) return params
    const canonical = (this.node as PatternNode<T>).parsed.paramNames
    const out: Params = {}
    for (let i = 0; i < renames.length; i++) out[renames[i] as string] = params[canonical[i] as string]
    return out
  }
}

function sniMatches(snis: readonly { kind: number; value: string }[], sni: string): boolean {
  if (sni === '') return false
  const name = sni.toLowerCase()
  for (let i = 0; i < snis.length; i++) {
    const m = snis[i]!
    if (m.kind === HOST_EXACT ? name === m.value : name.length > m.value.length && name.endsWith(m.value)) return true
  }
  return false
}

function headersMatch(matchers: readonly HeaderMatcher[], headers: IncomingHttpHeaders): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i] as HeaderMatcher
    const raw = headers[m.name]
    if (raw === undefined) return false
    const value = typeof raw === 'string' ? raw : raw.join(', ')
    if (m.regex !== null ? !m.regex.test(value) : value !== m.exact) return false
  }
  return true
}

function byPrecedence<T>(a: Entry<T>, b: Entry<T>): number {
  return (
    b.priority - a.priority ||
    b.hostKind - a.hostKind ||
    b.host.length - a.host.length ||
    b.cls - a.cls ||
    b.specificity - a.specificity ||
    a.order - b.order
  )
}

/**
 * One find-my-way router with the param and wildcard patterns of a table, and the pattern key at
 * each store index (minus one). Its store values are indexes, not a table's nodes, so a later table with the
 * same pattern set (the same first pattern of each shape, which names the params) takes it over (each table maps the indexes to its own nodes): inserting the
 * patterns generates code per node (new Function), which was most of a 10,000-route rebuild.
 */
interface FmwIndex {
  readonly router: Router
  readonly keys: readonly string[]
  /** The pattern inserted for each key: find-my-way names a match's params after it. */
  readonly inserted: ReadonlyMap<string, string>
}

export class RouteTable<T> {
  /** Number of routes (specs), not of patterns. */
  readonly size: number
  #fmw: FmwIndex | undefined
  /** This table's node for each store index of #fmw. */
  #fmwNodes: PatternNode<T>[] = []
  /** Every pattern this table parsed, by its text, for the next table built from this one. */
  readonly #parsed = new Map<string, ParsedPath | ParsedRegex>()
  #previous: RouteTable<T> | undefined
  /**
   * Exact patterns (no param, no wildcard) by their text: a Map lookup instead of find-my-way,
   * which would return the same pattern (it tries literal children first at every segment, so a
   * path equal to an exact pattern finds that pattern before any param or wildcard one). A miss
   * falls through to find-my-way with the param and wildcard patterns. Inserting a pattern into
   * find-my-way generates code per node (handler and prefix matchers via new Function); for a
   * 10,000-route table with half its patterns exact, that was most of the router's build time on
   * every reload (bench:scale).
   */
  readonly #exact = new Map<string, PatternNode<T>>()
  /** All regex entries in precedence order: the candidates when find-my-way finds nothing. */
  #regexOnly: Entry<T>[] = []

  /** Throws an Error naming the route and the pattern when a pattern, host, method or header is bad. */
  constructor(specs: RouteSpec<T>[], deferred = false, previous?: RouteTable<T>) {
    this.size = specs.length
    this.#previous = previous
    this.#steps = this.#build(specs)
    if (!deferred) for (const _ of this.#steps);
  }

  #steps: Generator<void, void, void>

  /**
   * The same table built in slices of at most ~`sliceMs` of CPU, giving the event loop back in
   * between: a worker rebuilding a 10,000-route table (100-250 ms in one piece) kept every request
   * that arrived meanwhile waiting for it (p99 2.5 → 158 ms during a reload storm, bench:scale).
   */
  static async build<T>(specs: RouteSpec<T>[], sliceMs = 4, previous?: RouteTable<T>): Promise<RouteTable<T>> {
    const t = new RouteTable(specs, true, previous)
    let since = performance.now()
    for (const _ of t.#steps) {
      if (performance.now() - since < sliceMs) continue
      await new Promise((r) => setImmediate(r))
      since = performance.now()
    }
    return t
  }

  /** The constructor's work as a generator that yields every few dozen routes or patterns. */
  *#build(specs: RouteSpec<T>[]): Generator<void, void, void> {
    const nodes = new Map<string, PatternNode<T>>()
    const earlier = this.#previous === undefined ? undefined : this.#previous.#parsed
    const all: Entry<T>[] = []
    let order = 0
    let k = 0
    for (const spec of specs) {
      const fail = (what: string): never => {
        throw new Error(`route "${spec.name}": ${what}`)
      }
      if (spec.paths.length === 0) fail('has no paths')
      const route = {
        name: spec.name,
        data: spec.data,
        priority: spec.priority ?? 0,
        methods: compileMethods(spec.methods, fail),
        headers: compileHeaders(spec.headers, fail),
        snis: spec.snis === undefined ? null : spec.snis.map((h) => compileHost(h, (what) => fail(what.replace(/^host/, 'sni')))),
      }
      const hosts = spec.hosts === undefined ? [{ kind: HOST_ANY, value: '' }] : spec.hosts.map((h) => compileHost(h, fail))
      if (hosts.length === 0) fail('hosts is empty (omit it to match any host)')
      for (const pattern of spec.paths) {
        const parsed = earlier?.get(pattern) ?? parsePattern(pattern)
        if (typeof parsed === 'string') fail(`path pattern "${pattern}" ${parsed}`)
        this.#parsed.set(pattern, parsed as ParsedPath | ParsedRegex)
        const p = parsed as ParsedPath | ParsedRegex
        let path: { node: PatternNode<T>; names: string[] } | RegExp
        if (p.cls === CLASS_REGEX) {
          path = p.regex
        } else {
          let node = nodes.get(p.key)
          if (node === undefined) {
            node = new PatternNode<T>(p)
            nodes.set(p.key, node)
            if (p.cls === CLASS_EXACT) this.#exact.set(p.source, node)
          }
          path = { node, names: p.paramNames }
        }
        for (const host of hosts) {
          const entry = new Entry<T>(route, host, path, order++)
          all.push(entry)
          entry.node?.entries.push(entry)
        }
      }
      if (++k % 32 === 0) yield
    }

    yield
    this.#indexPatterns(nodes)
    yield
    all.sort(byPrecedence)
    yield
    all.forEach((e, i) => (e.rank = i))
    this.#regexOnly = all.filter((e) => e.regex !== null)
    // Only param and wildcard entries can be rivals of another pattern (regex ones always are), and
    // only if their leading literal segments are a prefix of the pattern's: a trie on those
    // segments keeps the build near-linear for large tables instead of testing every pair.
    const trie = newTrie<T>()
    for (let i = 0; i < all.length; i++) {
      const e = all[i]!
      if (e.node !== null && e.cls !== CLASS_EXACT) trieAdd(trie, e)
      if (i % 256 === 255) yield
    }
    yield
    let n = 0
    for (const node of nodes.values()) {
      if (++n % 32 === 0) yield
      node.entries.sort(byPrecedence)
      const candidates = trieCompatible(trie, leadingLiterals(node.parsed.segments)).filter((e) => e.node !== node && isRival(node, e))
      node.rivals = candidates.concat(this.#regexOnly).sort((a, b) => a.rank - b.rank)
      // A request never waits for a rival's router: those are built now, with the table.
      for (const e of candidates) e.node!.alone()
    }
  }

  /** The find-my-way router of this table's param and wildcard patterns: the previous table's when the set is the same. */
  #indexPatterns(nodes: Map<string, PatternNode<T>>): void {
    let count = 0
    for (const node of nodes.values()) if (node.parsed.cls !== CLASS_EXACT) count++
    const prev = this.#previous === undefined ? undefined : this.#previous.#fmw
    let same = prev !== undefined && prev.keys.length === count
    if (same) for (const [key, node] of nodes) if (node.parsed.cls !== CLASS_EXACT && prev!.inserted.get(key) !== node.parsed.fmwPattern) same = false
    if (same) {
      this.#fmw = prev
      this.#fmwNodes = prev!.keys.map((k) => nodes.get(k)!)
    } else {
      const router = newRouter()
      const keys: string[] = []
      for (const [key, node] of nodes) {
        if (node.parsed.cls === CLASS_EXACT) continue
        // find-my-way hands back a falsy store as null: the store is the index + 1.
        router.on('GET', node.parsed.fmwPattern, noop, keys.length + 1)
        keys.push(key)
        this.#fmwNodes.push(node)
      }
      this.#fmw = { router, keys, inserted: new Map(keys.map((k) => [k, nodes.get(k)!.parsed.fmwPattern])) }
    }
    // Only the next build reads the previous table; holding it longer would chain every table.
    this.#previous = undefined
  }

  /**
   * Finds the route for a request. `host` is lower-cased without port, `path` is the output of
   * normalizePath(). Never throws on request input.
   */
  match(host: string, method: string, path: string, headers: IncomingHttpHeaders, sni = ''): MatchResult<T> {
    const hadPercent = path.includes('%')
    const fmwPath = hadPercent ? path.replaceAll('%', SENTINEL) : path
    // No lookup at all for a table without exact patterns (a catch-all gateway): callgrind put the
    // miss at ~0.5 % of a plain proxied request's instructions.
    const exact = this.#exact.size === 0 ? undefined : this.#exact.get(path)
    let node: PatternNode<T> | undefined = exact
    // A fresh params object per hit, as find-my-way's: the caller may keep or change it.
    let found: Params = NO_PARAMS
    if (node !== undefined) found = {}
    else {
      const hit = this.#fmw!.router.find('GET', fmwPath)
      if (hit !== null) {
        node = this.#fmwNodes[(hit.store as number) - 1]
        found = hit.params
      }
    }
    let best: Entry<T> | undefined
    let params: Params | null = null
    let rivals = this.#regexOnly
    if (node !== undefined) {
      rivals = node.rivals
      if (node.accepts(found)) {
        const entries = node.entries
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i] as Entry<T>
          if (e.qualifies(host, method, headers, sni)) {
            best = e
            params = found
            break
          }
        }
      }
    }
    for (let i = 0; i < rivals.length; i++) {
      const r = rivals[i] as Entry<T>
      if (best !== undefined && r.rank > best.rank) break
      if (!r.qualifies(host, method, headers, sni)) continue
      const p = r.matchPath(path, fmwPath)
      if (p !== null) {
        best = r
        params = p
        break
      }
    }
    if (best === undefined) return this.#miss(node, found, rivals, host, path, fmwPath, headers, sni)
    return { kind: 'found', data: best.data, name: best.name, params: best.ownParams(params as Params, hadPercent) }
  }

  /** No route allows the method: 405 when some match path, host and headers, else 404. */
  #miss(
    node: PatternNode<T> | undefined,
    found: Params,
    rivals: Entry<T>[],
    host: string,
    path: string,
    fmwPath: string,
    headers: IncomingHttpHeaders,
    sni: string,
  ): MatchResult<T> {
    const allow = new Set<string>()
    const add = (e: Entry<T>): void => {
      // An entry without methods allows any, so it would have matched: it never gets here.
      for (const m of e.methods ?? []) allow.add(m)
    }
    const near = (e: Entry<T>): boolean =>
      e.hostMatches(host) && (e.snis === null || sniMatches(e.snis, sni)) && (e.headers === null || headersMatch(e.headers, headers))
    if (node !== undefined && node.accepts(found)) for (const e of node.entries) if (near(e)) add(e)
    for (const r of rivals) if (near(r) && r.matchPath(path, fmwPath) !== null) add(r)
    if (allow.size === 0) return NOT_FOUND
    return { kind: 'method_not_allowed', allow: [...allow].sort().join(', ') }
  }
}

/**
 * Whether param or wildcard entry `e` (of another pattern) could match a path for which find-my-way
 * returned `node`. Exact entries never can: find-my-way would have returned them instead.
 */
function isRival<T>(node: PatternNode<T>, e: Entry<T>): boolean {
  const parsed = node.parsed
  const other = (e.node as PatternNode<T>).parsed.segments
  if (!mayOverlap(parsed.segments, other)) return false
  if (parsed.cls === CLASS_EXACT) return e.matchPath(parsed.source, parsed.source.replaceAll('%', SENTINEL)) !== null
  return triedBefore(parsed.segments, other)
}

const KIND_ORDER = { literal: 0, param: 1, wildcard: 2 } as const

/**
 * Whether find-my-way tries pattern `a` before `b` on a path both match. It walks its tree depth
 * first, trying at each position the literal children, then the param, then the wildcard, and
 * returns the first match: so when it returned `a`, a pattern it tries earlier cannot match and is
 * no rival. (Overlapping patterns with the same kinds throughout are one node, never compared.)
 */
function triedBefore(a: Segment[], b: Segment[]): boolean {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = (a[i] as Segment).kind
    const y = (b[i] as Segment).kind
    if (x !== y) return KIND_ORDER[x] < KIND_ORDER[y]
  }
  return true
}

function leadingLiterals(segments: Segment[]): string[] {
  const out: string[] = []
  for (const s of segments) {
    if (s.kind !== 'literal') break
    out.push(s.text)
  }
  return out
}

/** Entries indexed by their pattern's leading literal segments. */
interface LiteralTrie<T> {
  children: Map<string, LiteralTrie<T>>
  here: Entry<T>[]
}

function newTrie<T>(): LiteralTrie<T> {
  return { children: new Map(), here: [] }
}

function trieAdd<T>(root: LiteralTrie<T>, e: Entry<T>): void {
  let t = root
  for (const lit of leadingLiterals((e.node as PatternNode<T>).parsed.segments)) {
    let next = t.children.get(lit)
    if (next === undefined) t.children.set(lit, (next = newTrie<T>()))
    t = next
  }
  t.here.push(e)
}

/**
 * The entries that may be rivals of a pattern whose leading literal segments are `lits`: those whose
 * leading literals are a prefix of `lits` (including all of it). One whose literals go further has a
 * literal where this pattern has a param or wildcard, so find-my-way tries it first; or, for an
 * exact pattern, it has more segments and no wildcard in reach: never a rival either way.
 */
function trieCompatible<T>(root: LiteralTrie<T>, lits: string[]): Entry<T>[] {
  const out: Entry<T>[] = [...root.here]
  let t: LiteralTrie<T> | undefined = root
  for (let i = 0; i < lits.length; i++) {
    t = t.children.get(lits[i] as string)
    if (t === undefined) break
    out.push(...t.here)
  }
  return out
}

function compileMethods(methods: string[] | undefined, fail: (what: string) => never): ReadonlySet<string> | null {
  if (methods === undefined) return null
  if (methods.length === 0) fail('methods is empty (omit it to allow any method)')
  const set = new Set<string>()
  for (const m of methods) {
    if (!METHOD.test(m)) fail(`method "${m}" must be an upper-case HTTP method`)
    set.add(m)
    if (m === 'GET') set.add('HEAD')
  }
  return set
}

function compileHeaders(headers: Record<string, string> | undefined, fail: (what: string) => never): HeaderMatcher[] | null {
  if (headers === undefined) return null
  const out: HeaderMatcher[] = []
  for (const [name, value] of Object.entries(headers)) {
    let regex: RegExp | null = null
    if (value.startsWith('~')) {
      try {
        regex = new RegExp(value.slice(1))
      } catch (err) {
        fail(`header "${name}" matcher "${value}": invalid regular expression: ${(err as Error).message}`)
      }
    }
    out.push({ name: name.toLowerCase(), exact: value, regex })
  }
  return out.length > 0 ? out : null
}

function compileHost(host: string, fail: (what: string) => never): { kind: number; value: string } {
  const h = host.toLowerCase()
  if (h.startsWith('*.')) {
    const suffix = h.slice(1)
    if (suffix.length < 2 || suffix.includes('*')) fail(`host "${host}" is not a valid wildcard host ("*.example.com")`)
    return { kind: HOST_WILDCARD, value: suffix }
  }
  if (h.length === 0 || h.includes('*')) fail(`host "${host}": wildcard hosts are written "*.example.com"`)
  if (h.includes(':') && !h.startsWith('[')) fail(`host "${host}" must not carry a port: requests are matched on the host without port`)
  return { kind: HOST_EXACT, value: h }
}

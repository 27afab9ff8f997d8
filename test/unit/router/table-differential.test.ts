// Differential test: RouteTable (find-my-way + precomputed rivals) against a brute-force reference
// that tests every (route, path, host) entry in precedence order with its own RegExp. Random tables
// and requests from a small vocabulary, so patterns overlap a lot; a seeded PRNG keeps it repeatable.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders } from 'node:http'
import { RouteTable, type MatchResult, type RouteSpec } from '../../../src/router/table.js'

function prng(seed: number): () => number {
  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface RefEntry {
  name: string
  re: RegExp
  names: string[]
  methods: Set<string> | null
  host: { kind: number; value: string }
  headers: Array<[string, string]>
  key: number[]
}

function reference(specs: RouteSpec<string>[]): (host: string, method: string, path: string, headers: IncomingHttpHeaders) => MatchResult<string> {
  const entries: RefEntry[] = []
  let order = 0
  for (const s of specs) {
    const methods = s.methods ? new Set(s.methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))) : null
    for (const p of s.paths) {
      let re: RegExp
      let names: string[] = []
      let cls: number
      let spec = 0
      if (p.startsWith('~')) {
        re = new RegExp(p.slice(1))
        cls = 0
      } else {
        const segs = p.split('/').slice(1)
        const src = segs.map((seg) => {
          if (seg === '*') return '(.*)'
          if (seg.startsWith(':')) return '([^/]+)'
          return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        })
        names = segs.filter((x) => x === '*' || x.startsWith(':')).map((x) => (x === '*' ? '*' : x.slice(1)))
        re = new RegExp(`^/${src.join('/')}$`)
        cls = segs.includes('*') ? 1 : names.length > 0 ? 2 : 3
        spec = cls === 1 ? p.length - 1 : cls === 2 ? segs.filter((x) => x !== '*' && !x.startsWith(':')).length : 0
      }
      const hosts = s.hosts ?? [null]
      for (const h of hosts) {
        const host = h === null ? { kind: 0, value: '' } : h.startsWith('*.') ? { kind: 1, value: h.slice(1) } : { kind: 2, value: h }
        entries.push({
          name: s.name,
          re,
          names,
          methods,
          host,
          headers: Object.entries(s.headers ?? {}),
          key: [-(s.priority ?? 0), -host.kind, -host.value.length, -cls, -spec, order++],
        })
      }
    }
  }
  entries.sort((a, b) => {
    for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return (a.key[i] as number) - (b.key[i] as number)
    return 0
  })
  return (host, method, path, headers) => {
    const allow = new Set<string>()
    for (const e of entries) {
      const hostOk = e.host.kind === 0 || (e.host.kind === 2 ? host === e.host.value : host.length > e.host.value.length && host.endsWith(e.host.value))
      if (!hostOk) continue
      if (!e.headers.every(([n, v]) => headers[n] === v)) continue
      const m = e.re.exec(path)
      if (m === null) continue
      if (e.methods !== null && !e.methods.has(method)) {
        for (const x of e.methods) allow.add(x)
        continue
      }
      const params: Record<string, string | undefined> = e.names.length > 0 ? {} : { ...m.groups }
      e.names.forEach((n, i) => (params[n] = m[i + 1]))
      return { kind: 'found', data: e.name, name: e.name, params }
    }
    return allow.size > 0 ? { kind: 'method_not_allowed', allow: [...allow].sort().join(', ') } : { kind: 'not_found' }
  }
}

const SEGS = ['a', 'ab', 'b', 'c', ':p', ':q']
const REGEXES = ['~^/a/', '~^/(?<x>[ab])/c$', '~b$', '~^/c/.+/a$']
const HOSTS = ['a.com', 'x.a.com', 'b.com']

function randomSpecs(rand: () => number, n: number): RouteSpec<string>[] {
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)] as X
  const specs: RouteSpec<string>[] = []
  for (let i = 0; i < n; i++) {
    const paths: string[] = []
    const count = 1 + Math.floor(rand() * 2)
    for (let k = 0; k < count; k++) {
      if (rand() < 0.15) {
        paths.push(pick(REGEXES))
        continue
      }
      const len = 1 + Math.floor(rand() * 3)
      const segs: string[] = []
      for (let j = 0; j < len; j++) {
        let s = pick(SEGS)
        if (s.startsWith(':')) s = `${s}${j}`
        segs.push(s)
      }
      const tail = rand()
      if (tail < 0.25) segs.push('*')
      else if (tail < 0.35) segs.push('')
      paths.push(`/${segs.join('/')}`)
    }
    const spec: RouteSpec<string> = { name: `r${i}`, paths, data: `r${i}` }
    if (rand() < 0.3) spec.hosts = rand() < 0.5 ? [pick(HOSTS)] : ['*.a.com']
    if (rand() < 0.4) spec.methods = rand() < 0.5 ? ['GET'] : ['POST', 'DELETE']
    if (rand() < 0.2) spec.priority = rand() < 0.5 ? 1 : -1
    if (rand() < 0.15) spec.headers = { 'x-h': '1' }
    specs.push(spec)
  }
  return specs
}

function randomPath(rand: () => number): string {
  const vocab = ['a', 'ab', 'b', 'c', 'd', '']
  const len = 1 + Math.floor(rand() * 4)
  const segs: string[] = []
  for (let j = 0; j < len; j++) segs.push(vocab[Math.floor(rand() * vocab.length)] as string)
  return `/${segs.join('/')}`.replace(/\/\/+/g, '/')
}

test('RouteTable agrees with a brute-force reference on random tables', () => {
  const rand = prng(20240601)
  let compared = 0
  for (let round = 0; round < 300; round++) {
    const specs = randomSpecs(rand, 2 + Math.floor(rand() * 10))
    const table = new RouteTable(specs)
    const ref = reference(specs)
    for (let q = 0; q < 40; q++) {
      const host = ['a.com', 'x.a.com', 'b.com', 'c.com'][Math.floor(rand() * 4)] as string
      const method = ['GET', 'HEAD', 'POST', 'PUT'][Math.floor(rand() * 4)] as string
      const headers: IncomingHttpHeaders = rand() < 0.3 ? { 'x-h': '1' } : {}
      const path = randomPath(rand)
      const got = table.match(host, method, path, headers)
      const want = ref(host, method, path, headers)
      const plain = got.kind === 'found' ? { ...got, params: { ...got.params } } : got
      assert.deepEqual(plain, want, `${method} ${host}${path} ${JSON.stringify(headers)}\n${JSON.stringify(specs, null, 1)}`)
      compared++
    }
  }
  assert.equal(compared, 12000)
})

/**
 * A reload builds the new table from the serving one (its parsed patterns and, when the set of
 * param and wildcard patterns is unchanged, its find-my-way router). Chains of tables, each from
 * its predecessor with a change: attributes only (same patterns, reordered), one route replaced,
 * or a new random table. Every one must still agree with the reference, and so must the one it
 * replaced (it keeps serving in-flight requests and shares the router).
 */
test('a table built from its predecessor agrees with the reference, and so does the predecessor', () => {
  const rand = prng(20261203)
  const ask = (table: RouteTable<string>, specs: RouteSpec<string>[], tag: string): void => {
    const ref = reference(specs)
    for (let q = 0; q < 30; q++) {
      const host = ['a.com', 'x.a.com', 'b.com', 'c.com'][Math.floor(rand() * 4)] as string
      const method = ['GET', 'HEAD', 'POST', 'PUT'][Math.floor(rand() * 4)] as string
      const headers: IncomingHttpHeaders = rand() < 0.3 ? { 'x-h': '1' } : {}
      const path = randomPath(rand)
      const got = table.match(host, method, path, headers)
      const plain = got.kind === 'found' ? { ...got, params: { ...got.params } } : got
      assert.deepEqual(plain, ref(host, method, path, headers), `${tag}: ${method} ${host}${path}\n${JSON.stringify(specs, null, 1)}`)
    }
  }
  for (let chain = 0; chain < 60; chain++) {
    let specs = randomSpecs(rand, 2 + Math.floor(rand() * 8))
    let table = new RouteTable(specs)
    for (let step = 0; step < 5; step++) {
      const change = rand()
      let next: RouteSpec<string>[]
      if (change < 0.4) {
        // Same patterns, other order and attributes: the router is taken over.
        next = specs.map((s) => ({ ...s, methods: rand() < 0.3 ? ['GET'] : s.methods, priority: rand() < 0.2 ? 1 : s.priority })).sort(() => rand() - 0.5)
      } else if (change < 0.8) {
        const fresh = randomSpecs(rand, 1)[0]!
        next = specs.map((s, i) => (i === 0 ? { ...fresh, name: s.name, data: s.data } : s))
      } else next = randomSpecs(rand, 2 + Math.floor(rand() * 8))
      const built = new RouteTable(next, false, table)
      ask(built, next, `step ${step}`)
      ask(table, specs, `predecessor of step ${step}`)
      specs = next
      table = built
    }
  }
})

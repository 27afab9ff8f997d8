// Micro-benchmark of the jwt plugin's access phase: a full verification per algorithm (no cache),
// a hit in the verified-token cache, and the cost of refusing each kind of bad token, next to
// jose's jwtVerify (WebCrypto, what the plugin used before) and fast-jwt's synchronous verifier.
// Prints CPU ns/op per case; the other rows also give their cost relative to a valid verification.
// jose's figure is CPU of this process only: WebCrypto's work in the thread pool is counted too
// (cpuUsage covers every thread of the process).
// Run: node --import tsx bench/micro/jwt.ts
import type { IncomingMessage, ServerResponse } from 'node:http'
import { generateKeyPairSync } from 'node:crypto'
import { SignJWT, jwtVerify } from 'jose'
import { createVerifier } from 'fast-jwt'
import jwt from '../../src/plugins/jwt/index.js'
import type { JwtConfig } from '../../src/plugins/jwt/schema.js'
import { RequestContext } from '../../src/core/context.js'
import { createLogger } from '../../src/observability/logger.js'
import { MemoryStore } from '../../src/state/memory.js'
import type { PluginEnv } from '../../src/plugins/contract.js'

const env = { logger: createLogger('silent'), route: 'bench', store: new MemoryStore(), memory: new MemoryStore() } as unknown as PluginEnv
const SECRET = 'micro-benchmark-secret-0123456789abcdef'
const exp = Math.floor(Date.now() / 1000) + 3600
const claims = { sub: 'user-1234', scope: 'read write', iss: 'https://idp.example', aud: 'api', iat: Math.floor(Date.now() / 1000), exp }

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ed = generateKeyPairSync('ed25519')
const pem = (k: typeof ec.publicKey) => k.export({ type: 'spki', format: 'pem' }) as string
const secretBytes = new TextEncoder().encode(SECRET)

const cases = [
  { name: 'HS256', config: { secret: SECRET, algorithms: ['HS256'] }, key: secretBytes, fastKey: SECRET, token: await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(secretBytes) },
  { name: 'RS256', config: { public_key: pem(rsa.publicKey), algorithms: ['RS256'] }, key: rsa.publicKey, fastKey: pem(rsa.publicKey), token: await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey) },
  { name: 'ES256', config: { public_key: pem(ec.publicKey), algorithms: ['ES256'] }, key: ec.publicKey, fastKey: pem(ec.publicKey), token: await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey) },
  { name: 'EdDSA', config: { public_key: pem(ed.publicKey), algorithms: ['EdDSA'] }, key: ed.publicKey, fastKey: pem(ed.publicKey), token: await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA' }).sign(ed.privateKey) },
]

function ctxFor(token: string): RequestContext {
  const headers = { authorization: `Bearer ${token}` }
  const ctx = new RequestContext({ method: 'GET', headers } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
  ctx.upstreamHeaders = { ...headers }
  return ctx
}

type Case = { name: string; n: number; fn: () => unknown; ref?: string }

/** CPU time of this process per call (ns), not wall time: on a loaded host a wall clock also counts the time the process waited for a core. */
async function time(fn: () => unknown, n: number): Promise<number> {
  const t0 = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const v = fn()
    if (v instanceof Promise) await v
  }
  const d = process.cpuUsage(t0)
  return ((d.user + d.system) * 1e3) / n
}

/**
 * The cases of one group take turns, round after round (this host's speed drifts by ±25% from one
 * second to the next: measured one after the other, two cases would differ by that much); each
 * case's figure is its best round. `ref` names the case a row is compared with.
 */
async function group(title: string, cases: Case[]): Promise<void> {
  for (const c of cases) for (let i = 0; i < c.n / 5; i++) await c.fn()
  const best = new Map<string, number>()
  for (let round = 0; round < 7; round++) {
    for (const c of round % 2 === 0 ? cases : [...cases].reverse()) best.set(c.name, Math.min(best.get(c.name) ?? Infinity, await time(c.fn, c.n)))
  }
  console.log(`\n${title}`)
  for (const c of cases) {
    const ns = best.get(c.name)!
    const rel = c.ref === undefined ? '' : `   ${(ns / best.get(c.ref)!).toFixed(2)}× ${c.ref}`
    console.log(`  ${c.name.padEnd(50)} ${ns.toFixed(0).padStart(9)} ns/op${rel}`)
  }
}

console.log(`jwt micro-benchmark: node ${process.version}`)
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const VALID = 'portico verify, no cache'
for (const c of cases) {
  const base = { keys: [c.config], issuer: 'https://idp.example', audience: 'api', claims_to_headers: { sub: 'x-user-id' } }
  const uncached = jwt.create({ ...base, cache_size: 0 } as unknown as JwtConfig, env)
  const cached = jwt.create({ ...base, cache_size: 10000 } as unknown as JwtConfig, env)
  const check = await uncached.access!(ctxFor(c.token))
  if (check !== undefined) throw new Error(`${c.name}: token refused: ${JSON.stringify(check)}`)
  const n = c.name === 'HS256' ? 4000 : 600
  const fast = createVerifier({ key: c.fastKey, algorithms: [c.name as 'HS256'], allowedIss: 'https://idp.example', allowedAud: 'api', cache: false })
  const [h, p, s] = c.token.split('.') as [string, string, string]
  const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`
  const bad: Array<[string, string]> = [
    ['not a JWS (two parts)', `${h}.${p}`],
    ['not base64url', `${h}.${p}!.${s}`],
    ['header not JSON', `${Buffer.from('{"alg":').toString('base64url')}.${p}.${s}`],
    ['alg none', `${b64({ alg: 'none' })}.${p}.`],
    ['alg not allowed here', `${b64({ alg: c.name === 'HS256' ? 'RS256' : 'HS256' })}.${p}.${s}`],
    ['signature of the wrong length', `${h}.${p}.${s.slice(0, 20)}`],
    ['bad signature (right length)', `${h}.${p}.${flipped}`],
  ]
  for (const [what, t] of bad) if ((await uncached.access!(ctxFor(t))) === undefined) throw new Error(`${c.name}: ${what}: accepted`)
  await group(c.name, [
    { name: VALID, n, fn: () => uncached.access!(ctxFor(c.token)) },
    { name: 'portico verify, cache hit', n: 20_000, fn: () => cached.access!(ctxFor(c.token)), ref: VALID },
    { name: 'fast-jwt verify (reference)', n, fn: () => fast(c.token), ref: VALID },
    { name: 'jose jwtVerify (the plugin before)', n, fn: () => jwtVerify(c.token, c.key, { algorithms: [c.name], issuer: 'https://idp.example', audience: 'api' }), ref: VALID },
    ...bad.map(([what, t]): Case => ({ name: `refuse: ${what}`, n: what.startsWith('bad') ? n : 20_000, fn: () => uncached.access!(ctxFor(t)), ref: VALID })),
  ])
  uncached.close?.()
  cached.close?.()
}
await group('baseline', [{ name: 'RequestContext + header object only', n: 200_000, fn: () => ctxFor(cases[0]!.token) }])

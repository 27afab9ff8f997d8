// Micro-benchmark of the jwt plugin's access phase: a full ES256 / RS256 / HS256 verification
// (jose, WebCrypto) against a hit in the verified-token cache (SHA-256 of the token + LRU get +
// claims applied). Prints ns/op per case and the cache's speed-up.
// Run: node --import tsx bench/micro/jwt.ts
import type { IncomingMessage, ServerResponse } from 'node:http'
import { generateKeyPairSync } from 'node:crypto'
import { SignJWT } from 'jose'
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
const pem = (k: typeof ec.publicKey) => k.export({ type: 'spki', format: 'pem' }) as string

const cases = [
  { name: 'ES256', config: { public_key: pem(ec.publicKey), algorithms: ['ES256'] }, token: await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey) },
  { name: 'RS256', config: { public_key: pem(rsa.publicKey), algorithms: ['RS256'] }, token: await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey) },
  { name: 'HS256', config: { secret: SECRET, algorithms: ['HS256'] }, token: await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET)) },
]

function ctxFor(token: string): RequestContext {
  const headers = { authorization: `Bearer ${token}` }
  const ctx = new RequestContext({ method: 'GET', headers } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
  ctx.upstreamHeaders = { ...headers }
  return ctx
}

async function bench(name: string, n: number, fn: () => unknown): Promise<number> {
  // Warm-up, then the best of five rounds (least disturbed by GC and other processes).
  for (let i = 0; i < n / 5; i++) await fn()
  let best = Infinity
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const v = fn()
      if (v instanceof Promise) await v
    }
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n)
  }
  console.log(`${name.padEnd(48)} ${best.toFixed(0).padStart(9)} ns/op`)
  return best
}

console.log(`jwt micro-benchmark: node ${process.version}`)
for (const c of cases) {
  const base = { keys: [c.config], issuer: 'https://idp.example', audience: 'api', claims_to_headers: { sub: 'x-user-id' } }
  const uncached = jwt.create({ ...base, cache_size: 0 } as unknown as JwtConfig, env)
  const cached = jwt.create({ ...base, cache_size: 10000 } as unknown as JwtConfig, env)
  const ctx = ctxFor(c.token)
  const check = await uncached.access!(ctx)
  if (check !== undefined) throw new Error(`${c.name}: token refused: ${JSON.stringify(check)}`)
  const slow = await bench(`${c.name} verify, no cache`, c.name === 'RS256' ? 2000 : 5000, () => uncached.access!(ctxFor(c.token)))
  const fast = await bench(`${c.name} verify, cache hit`, 200_000, () => cached.access!(ctxFor(c.token)))
  console.log(`${''.padEnd(48)} ${(slow / fast).toFixed(0).padStart(9)} × faster with the cache`)
  uncached.close?.()
  cached.close?.()
}
await bench('baseline: RequestContext + header object only', 200_000, () => ctxFor(cases[0]!.token))

// What the jwt scenarios need besides Portico: a static JWKS server (node:http, in the runner's
// process: it is fetched once at startup, then every jwks_cache_ttl) and one long-lived ES256
// access token minted here with jose. No OpenID provider in the benchmark.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'

export const jwtFixture = { jwksUrl: '', token: '', issuer: 'https://idp.bench.portico', audience: 'bench-api' }

/** Starts the JWKS server and mints the token; returns the teardown. */
export async function startJwtFixture(): Promise<() => Promise<void>> {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const kid = 'bench-1'
  const body = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] })
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  jwtFixture.jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`
  jwtFixture.token = await new SignJWT({ scope: 'read write', roles: ['bench'] })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
    .setIssuer(jwtFixture.issuer)
    .setAudience(jwtFixture.audience)
    .setSubject('bench-user')
    .setIssuedAt()
    .setExpirationTime('24h')
    .sign(privateKey)
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
}

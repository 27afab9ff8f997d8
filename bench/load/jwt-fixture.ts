// What the jwt scenarios need besides Portico: a static JWKS server (node:http, in the runner's
// process: it is fetched once at startup, then every jwks_cache_ttl) and long-lived access tokens
// minted here with jose: ES256 (its key in the JWKS and as a PEM) and HS256 (a shared secret). The
// PEM and the secret are what the fast-jwt peers verify with. No OpenID provider in the benchmark.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose'

export const jwtFixture = {
  jwksUrl: '',
  /** ES256, kid bench-1 (in the JWKS). */
  token: '',
  /** The ES256 public key as SPKI PEM. */
  pem: '',
  /** HS256 with `secret`. */
  hsToken: '',
  secret: 'bench-hs256-secret-of-at-least-32-bytes!',
  issuer: 'https://idp.bench.portico',
  audience: 'bench-api',
}

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
  const claims = () =>
    new SignJWT({ scope: 'read write', roles: ['bench'] })
      .setIssuer(jwtFixture.issuer)
      .setAudience(jwtFixture.audience)
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('24h')
  jwtFixture.token = await claims().setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(privateKey)
  jwtFixture.pem = await exportSPKI(publicKey)
  jwtFixture.hsToken = await claims().setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(new TextEncoder().encode(jwtFixture.secret))
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
}

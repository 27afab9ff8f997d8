// A real OpenID provider (npm `oidc-provider` v8) in-process on a free loopback port, for the auth
// plugins' tests: discovery, JWKS, the client_credentials grant (access tokens as JWTs through
// resource indicators, or opaque ones for introspection), key rotation, stop().
//
//   const idp = await startOidc()
//   const token = await idp.token({ client: 'reader', scope: 'read' })     // a JWT, aud = idp.audience
//   const opaque = await idp.token({ client: 'reader', resource: idp.opaqueResource })
//   await idp.rotate()              // new signing key first; the old one kept unless { keepOld: false }
//   await idp.sign({ sub: 'x', exp: past })   // hand-made token signed with the IdP's current key
//   await idp.stop()
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import Provider from 'oidc-provider'

export interface OidcClient {
  client_id: string
  client_secret: string
  /** Scopes the client may request (space-separated). */
  scope: string
  /** Put into its access tokens as the "roles" claim. */
  roles: string[]
}

export interface Oidc {
  /** The issuer (= discovery URL base): http://127.0.0.1:PORT */
  issuer: string
  discoveryUrl: string
  jwksUri: string
  tokenUrl: string
  introspectionUrl: string
  /** Resource indicator (and "aud") of JWT access tokens. */
  audience: string
  /** Resource indicator whose access tokens are opaque (for oauth2-introspection). */
  opaqueResource: string
  clients: Record<'reader' | 'admin' | 'introspector', OidcClient>
  /** Access token by the client_credentials grant. */
  token(opts?: { client?: 'reader' | 'admin' | 'introspector'; scope?: string; resource?: string }): Promise<string>
  /** A token signed with the IdP's current signing key (or `key`), with any claims and header. */
  sign(payload: JWTPayload, opts?: { header?: Record<string, unknown>; key?: 'current' | 'previous' }): Promise<string>
  /** The kid the IdP signs with now. */
  readonly kid: string
  /** Public JWKS currently served. */
  jwks(): { keys: JWK[] }
  /** Generates a new signing key (served first, used for new tokens). keepOld: keep serving the previous key (default true). */
  rotate(opts?: { keepOld?: boolean }): Promise<void>
  /** JWKS requests served so far. */
  readonly jwksHits: number
  stop(): Promise<void>
}

const ALG = 'ES256'
const SCOPES = 'read write admin'

interface Key {
  kid: string
  privateJwk: JWK
  publicJwk: JWK
  privateKey: CryptoKey
}

let seq = 0
async function newKey(): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true })
  const kid = `k${++seq}-${Math.random().toString(36).slice(2, 8)}`
  const base = { kid, alg: ALG, use: 'sig' }
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), ...base }, publicJwk: { ...(await exportJWK(publicKey)), ...base }, privateKey }
}

export async function startOidc(): Promise<Oidc> {
  const clients: Oidc['clients'] = {
    reader: { client_id: 'reader', client_secret: 'reader-secret-0123456789abcdef', scope: 'read', roles: ['viewer'] },
    admin: { client_id: 'admin', client_secret: 'admin-secret-0123456789abcdefgh', scope: SCOPES, roles: ['admin', 'viewer'] },
    introspector: { client_id: 'introspector', client_secret: 'introspector-secret-0123456789', scope: 'openid', roles: [] },
  }
  let keys: Key[] = [await newKey()]
  let previous: Key | undefined
  let jwksHits = 0

  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const audience = `${issuer}/api`
  const opaqueResource = `${issuer}/opaque-api`

  const build = (): ((req: http.IncomingMessage, res: http.ServerResponse) => void) => {
    const provider = new Provider(issuer, {
      clients: Object.values(clients).map((c) => ({
        client_id: c.client_id,
        client_secret: c.client_secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: ALG,
        scope: c.scope,
      })),
      jwks: { keys: keys.map((k) => k.privateJwk) },
      cookies: { keys: ['portico-test-cookie-key'] },
      scopes: SCOPES.split(' '),
      features: {
        clientCredentials: { enabled: true },
        introspection: { enabled: true },
        devInteractions: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => audience,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string) => {
            if (resource === opaqueResource) return { scope: SCOPES, accessTokenFormat: 'opaque', accessTokenTTL: 600 }
            if (resource !== audience) throw new Error(`unknown resource ${resource}`)
            return { scope: SCOPES, audience, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: ALG } } }
          },
        },
      },
      extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => {
        const c = Object.values(clients).find((x) => x.client_id === token.clientId)
        return c === undefined || c.roles.length === 0 ? undefined : { roles: c.roles }
      },
      ttl: { ClientCredentials: 600, AccessToken: 600 },
    })
    return provider.callback()
  }
  let handler = build()
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/jwks') jwksHits++
    handler(req, res)
  })

  const discovery = (await (await request(`${issuer}/.well-known/openid-configuration`)).body.json()) as Record<string, string>

  const idp: Oidc = {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    jwksUri: discovery.jwks_uri!,
    tokenUrl: discovery.token_endpoint!,
    introspectionUrl: discovery.introspection_endpoint!,
    audience,
    opaqueResource,
    clients,
    get kid() {
      return keys[0]!.kid
    },
    get jwksHits() {
      return jwksHits
    },
    jwks: () => ({ keys: keys.map((k) => k.publicJwk) }),
    async token(opts = {}) {
      const c = clients[opts.client ?? 'reader']
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: c.client_id, client_secret: c.client_secret })
      if (opts.scope !== undefined) form.set('scope', opts.scope)
      form.set('resource', opts.resource ?? audience)
      const r = await request(idp.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() })
      const body = (await r.body.json()) as { access_token?: string; error?: string; error_description?: string }
      if (r.statusCode !== 200 || body.access_token === undefined) throw new Error(`token endpoint: ${r.statusCode} ${body.error}: ${body.error_description}`)
      return body.access_token
    },
    async sign(payload, opts = {}) {
      const key = opts.key === 'previous' ? previous : keys[0]
      if (key === undefined) throw new Error('no previous key (rotate first)')
      return new SignJWT(payload).setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'at+jwt', ...opts.header }).sign(key.privateKey)
    },
    async rotate(opts = {}) {
      previous = keys[0]
      const fresh = await newKey()
      keys = opts.keepOld === false ? [fresh] : [fresh, ...keys]
      handler = build()
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return idp
}

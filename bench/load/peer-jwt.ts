// The "+fast-jwt" peers' token check, shared by the floor and the http-proxy peer: with JWT_ALG
// set, every request's bearer token is verified with fast-jwt (JWT_KEY, JWT_ISS, JWT_AUD; its cache
// off, as each token were new), and a failure gets a bare 401. fast-jwt is imported only then, so a
// plain peer carries none of it.
import type { ServerResponse } from 'node:http'

type JwtCheck = (token: string) => unknown
const jwtCheck: JwtCheck | null = process.env.JWT_ALG
  ? (await import('fast-jwt')).createVerifier({
      key: process.env.JWT_KEY ?? '',
      algorithms: [process.env.JWT_ALG as 'HS256'],
      allowedIss: process.env.JWT_ISS,
      allowedAud: process.env.JWT_AUD,
      cache: false,
    })
  : null

export function authorized(auth: string | undefined): boolean {
  if (jwtCheck === null) return true
  if (auth === undefined || !auth.startsWith('Bearer ')) return false
  try {
    jwtCheck(auth.slice(7))
    return true
  } catch {
    return false
  }
}

export function unauthorized(res: ServerResponse): void {
  res.writeHead(401, { 'content-length': '0' })
  res.end()
}

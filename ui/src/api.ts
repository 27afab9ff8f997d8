// Every call to the admin API goes through here: the token from sessionStorage (this tab, this
// session only) as the Authorization header, never in a URL and never in a cookie, so a page on
// another site cannot make the browser send it (CSRF-safe by construction).
const KEY = 'portico.admin-token'

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  set: (t: string): void => sessionStorage.setItem(KEY, t),
  clear: (): void => sessionStorage.removeItem(KEY),
}

export type Role = 'admin' | 'editor' | 'viewer'
export interface Principal {
  name: string
  role: Role
}

export interface ApiError {
  status: number
  error: string
  message: string
  errors?: Array<{ path: string; message: string; hint?: string; line?: number; column?: number }>
  changes?: Change[]
  current_etag?: string | null
}

export interface Change {
  kind: string
  name: string
  op: 'create' | 'update' | 'delete'
}

export interface Answer<T> {
  ok: boolean
  status: number
  etag: string | null
  body: T & Partial<ApiError>
}

/** Called when the API answers 401: the token is gone or wrong, so the console signs out. */
let onUnauthorized: () => void = () => undefined
export function whenUnauthorized(f: () => void): void {
  onUnauthorized = f
}

export async function call<T = unknown>(path: string, opts: { method?: string; body?: unknown; ifMatch?: string | null; token?: string } = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const token = opts.token ?? session.token()
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  if (opts.ifMatch !== undefined && opts.ifMatch !== null) headers['if-match'] = opts.ifMatch
  const r = await fetch(path, {
    method: opts.method ?? 'GET',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: 'omit',
    cache: 'no-store',
    redirect: 'error',
  })
  const text = await r.text()
  let body: unknown = text
  if ((r.headers.get('content-type') ?? '').includes('json')) {
    try {
      body = JSON.parse(text)
    } catch {
      body = { status: r.status, error: 'bad_response', message: text.slice(0, 200) }
    }
  }
  if (r.status === 401 && opts.token === undefined) onUnauthorized()
  return { ok: r.ok, status: r.status, etag: r.headers.get('etag'), body: body as T & Partial<ApiError> }
}

export async function text(path: string): Promise<string> {
  const token = session.token()
  const r = await fetch(path, { headers: token === null ? {} : { authorization: `Bearer ${token}` }, credentials: 'omit', cache: 'no-store' })
  if (r.status === 401) onUnauthorized()
  return r.text()
}

/** A one-line account of a failed call, as the API words it. */
export function explain(a: Answer<unknown>): string {
  const b = a.body
  return typeof b === 'object' && b !== null && typeof b.message === 'string' ? `${a.status} ${b.error ?? ''}: ${b.message}` : `${a.status}: ${String(b).slice(0, 200)}`
}

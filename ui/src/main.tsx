// The Portico console: a Preact app on the admin API. Pages are chosen by the URL's hash
// (#/routes/users), so the admin listener serves one index.html and no path is ever rewritten.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { call, explain, session, whenUnauthorized, type Principal } from './api'
import { href, useHashRoute } from './hooks'
import { Overview } from './pages/overview'
import { Routes, RouteDetail } from './pages/routes'
import { Upstreams } from './pages/upstreams'
import { Consumers } from './pages/consumers'
import { GlobalPlugins } from './pages/global-plugins'
import { Editor } from './pages/editor'
import { Audit } from './pages/audit'
import { Revoke } from './pages/revoke'
import { Traffic } from './pages/traffic'
import { Fleet } from './pages/fleet'
import { Certificates } from './pages/certificates'
import { CachePurge } from './pages/cache'
import type { Kind } from './validate'
import './style.css'

const NAV: Array<[string, string]> = [
  ['overview', 'Overview'],
  ['routes', 'Routes'],
  ['upstreams', 'Upstreams'],
  ['consumers', 'Consumers'],
  ['plugins', 'Global plugins'],
  ['traffic', 'Traffic'],
  ['fleet', 'Fleet'],
  ['certificates', 'Certificates'],
  ['audit', 'Audit log'],
  ['revoke', 'Revocations'],
  ['cache', 'Cache purge'],
]

function SignIn({ onSignedIn, reason }: { onSignedIn: (p: Principal) => void; reason: string | null }) {
  const [token, setToken] = useState('')
  const [error, setError] = useState<string | null>(reason)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const a = await call<{ data: Principal }>('/admin/session', { token: token.trim() })
      if (!a.ok) return setError(a.status === 401 ? 'That token is not valid for this gateway.' : explain(a))
      session.set(token.trim())
      onSignedIn(a.body.data)
    } catch (err) {
      setError(`The admin listener did not answer: ${(err as Error).message}`)
    } finally {
      setBusy(false)
    }
  }
  return (
    <main class="signin">
      <h1>Portico console</h1>
      <form onSubmit={submit} aria-describedby="signin-help">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="off" required value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <p id="signin-help" class="muted">
          Kept in this tab for this session only and sent as the Authorization header. Without a configured token (loopback only), any text signs in.
        </p>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error !== null && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  )
}

function Page({ parts, who }: { parts: string[]; who: Principal }) {
  const [page = 'overview', a, b] = parts
  const canWrite = who.role !== 'viewer'
  switch (page) {
    case 'routes':
      return a === undefined ? <Routes canWrite={canWrite} /> : <RouteDetail name={a} canWrite={canWrite} />
    case 'upstreams':
      return <Upstreams canWrite={canWrite} />
    case 'consumers':
      return <Consumers canWrite={canWrite} />
    case 'plugins':
      return <GlobalPlugins canWrite={canWrite} />
    case 'edit':
      // Keyed: another resource is a fresh editor (text view, no state of the previous one).
      return <Editor key={`${a ?? ''}/${b ?? ''}`} kind={a as Kind} name={b ?? null} canWrite={canWrite} />
    case 'traffic':
      return <Traffic />
    case 'audit':
      return <Audit canRead={canWrite} />
    case 'revoke':
      return <Revoke canRevoke={who.role === 'admin'} />
    case 'fleet':
      return <Fleet />
    case 'certificates':
      return <Certificates />
    case 'cache':
      // DELETE /admin/cache needs the admin role (operations.ts): others get no control to press.
      return <CachePurge canPurge={who.role === 'admin'} />
    default:
      return <Overview />
  }
}

function App() {
  const [who, setWho] = useState<Principal | null>(null)
  const [checking, setChecking] = useState(session.token() !== null)
  const [reason, setReason] = useState<string | null>(null)
  const parts = useHashRoute()
  useEffect(() => {
    whenUnauthorized(() => {
      session.clear()
      setWho(null)
      setReason('The gateway no longer accepts this token; sign in again.')
    })
    if (session.token() === null) return
    call<{ data: Principal }>('/admin/session')
      .then((a) => a.ok && setWho(a.body.data))
      .finally(() => setChecking(false))
  }, [])
  useEffect(() => {
    document.title = `${NAV.find(([k]) => k === (parts[0] ?? 'overview'))?.[1] ?? 'Edit'} · Portico console`
  }, [parts])
  if (checking) return <p class="muted">Checking the session…</p>
  if (who === null) return <SignIn onSignedIn={setWho} reason={reason} />
  const current = parts[0] ?? 'overview'
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header>
        <strong class="brand">Portico</strong>
        <nav aria-label="Console pages">
          <ul>
            {NAV.map(([k, label]) => (
              <li key={k}>
                <a href={href(k)} aria-current={current === k || (current === 'edit' && k === parts[1]) ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who" data-role={who.role}>
          {who.name} · <span class="role">{who.role}</span>
        </span>
        <button
          type="button"
          class="link"
          onClick={() => {
            session.clear()
            setReason(null)
            setWho(null)
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page parts={parts} who={who} />
      </main>
    </>
  )
}

render(<App />, document.getElementById('app')!)

import { useState } from 'preact/hooks'
import { call, explain } from '../api'

export function Revoke({ canRevoke }: { canRevoke: boolean }) {
  const [by, setBy] = useState<'jti' | 'sub'>('jti')
  const [id, setId] = useState('')
  const [ttl, setTtl] = useState('24h')
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null)
  const submit = async (e: Event) => {
    e.preventDefault()
    setResult(null)
    const body = by === 'jti' ? { jti: id.trim() } : { sub: id.trim(), ttl: ttl.trim() }
    const a = await call<{ revoked: Record<string, unknown> }>('/admin/revocations', { method: 'POST', body })
    setResult(a.ok ? { ok: true, text: `Revoked: ${JSON.stringify(a.body.revoked)}` } : { ok: false, text: explain(a) })
  }
  return (
    <>
      <h1>Token revocation</h1>
      <p class="muted">
        Revokes JWTs for the jwt plugin's revocation check on every worker of this instance, and of every instance sharing the Store when store.redis is set. By <code>jti</code> (one token, until it
        expires), or by <code>sub</code> (every token of that subject issued before now).
      </p>
      {!canRevoke ? (
        <p class="panel warn">Revoking tokens needs the admin role.</p>
      ) : (
        <form onSubmit={submit} class="stack">
          <fieldset class="format">
            <legend>Revoke by</legend>
            <label>
              <input type="radio" name="by" checked={by === 'jti'} onChange={() => setBy('jti')} /> token id (jti)
            </label>
            <label>
              <input type="radio" name="by" checked={by === 'sub'} onChange={() => setBy('sub')} /> subject (sub)
            </label>
          </fieldset>
          <label for="rev-id">{by === 'jti' ? 'jti' : 'sub'}</label>
          <input id="rev-id" required maxLength={512} value={id} onInput={(e) => setId((e.target as HTMLInputElement).value)} />
          {by === 'sub' && (
            <>
              <label for="rev-ttl">Keep the revocation for (at least the longest token lifetime)</label>
              <input id="rev-ttl" value={ttl} onInput={(e) => setTtl((e.target as HTMLInputElement).value)} />
            </>
          )}
          <button type="submit" class="danger">
            Revoke
          </button>
        </form>
      )}
      {result !== null && (
        <p role={result.ok ? 'status' : 'alert'} class={`panel ${result.ok ? 'good' : 'bad'}`}>
          {result.text}
        </p>
      )}
    </>
  )
}

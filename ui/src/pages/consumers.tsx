import { call, explain } from '../api'
import { href, usePoll } from '../hooks'

type Consumer = Record<string, unknown> & { name: string }

/** Credential kinds a consumer carries and how many of each; their secrets come back as "[REDACTED]". */
function credentials(c: Consumer): string[] {
  const creds = typeof c.credentials === 'object' && c.credentials !== null ? (c.credentials as Record<string, unknown>) : {}
  return Object.entries(creds).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.length : 1} set`)
}

export function Consumers({ canWrite }: { canWrite: boolean }) {
  const { data, error } = usePoll(async () => {
    const a = await call<{ data: Consumer[] }>('/admin/consumers')
    if (!a.ok) throw new Error(explain(a))
    return a.body.data
  }, 5000)
  return (
    <>
      <div class="titlebar">
        <h1>Consumers</h1>
        {canWrite && (
          <a class="button" href={href('edit', 'consumers')}>
            New consumer
          </a>
        )}
      </div>
      <p class="muted">Credentials are write-only: the API never returns a key or secret, only that one is set. The form shows a stored one as "stored" and keeps it unless you replace it.</p>
      {error !== null && <p role="alert" class="error">{error}</p>}
      {data === null ? (
        <p class="muted">Loading…</p>
      ) : data.length === 0 ? (
        <p>No consumers.</p>
      ) : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Credentials</th>
                <th scope="col">Roles</th>
                <th scope="col">Plugins</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.map((c) => (
                <tr key={c.name}>
                  <th scope="row">{c.name}</th>
                  <td>{credentials(c).map((k) => <span key={k} class="badge muted">{k}</span>)}</td>
                  <td>{Array.isArray(c.roles) ? c.roles.join(', ') : '—'}</td>
                  <td>{Array.isArray(c.plugins) ? (c.plugins as Array<{ name: string }>).map((p) => p.name).join(', ') : '—'}</td>
                  <td>
                    {canWrite && (
                      <a href={href('edit', 'consumers', c.name)} aria-label={`Edit consumer ${c.name}`}>
                        Edit
                      </a>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}

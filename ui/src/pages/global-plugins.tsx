// The top-level plugins: list (applied to every route): each use with whether it is on and its
// priority, and the editor's form or text view to add, change, switch off or remove one.
import { call, explain } from '../api'
import { href, usePoll } from '../hooks'

type Use = { name: string; enabled?: boolean; priority?: number; config?: Record<string, unknown> }

export function GlobalPlugins({ canWrite }: { canWrite: boolean }) {
  const { data, error } = usePoll(async () => {
    const a = await call<{ data: Use[] }>('/admin/plugins')
    if (!a.ok) throw new Error(explain(a))
    return a.body.data
  }, 5000)
  return (
    <>
      <div class="titlebar">
        <h1>Global plugins</h1>
        {canWrite && (
          <a class="button" href={href('edit', 'plugins')}>
            New global plugin
          </a>
        )}
      </div>
      <p class="muted">Applied to every route, unless a route switches one off (enabled: false) or uses the same plugin with its own config. A worker runs them by phase, then priority.</p>
      {error !== null && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {data === null ? (
        <p class="muted">Loading…</p>
      ) : data.length === 0 ? (
        <p>No global plugins.</p>
      ) : (
        <div class="scroll">
          <table data-testid="global-plugins">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Priority</th>
                <th scope="col">Config keys</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.map((p) => (
                <tr key={p.name} data-plugin={p.name}>
                  <th scope="row">{p.name}</th>
                  <td>{p.enabled === false ? <span class="badge muted">disabled</span> : <span class="badge good">enabled</span>}</td>
                  <td>{p.priority ?? <span class="muted">default</span>}</td>
                  <td>{p.config === undefined ? '—' : Object.keys(p.config).join(', ') || '—'}</td>
                  <td>
                    {canWrite && (
                      <a href={href('edit', 'plugins', p.name)} aria-label={`Edit global plugin ${p.name}`}>
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

import { href, usePoll } from '../hooks'
import { loadStatus, type TargetStatus } from '../status'

function Health({ t }: { t: TargetStatus }) {
  const [cls, label] = t.healthy === null ? ['warn', 'unknown'] : t.ejected ? ['bad', 'ejected'] : t.healthy ? ['good', 'healthy'] : ['bad', 'unhealthy']
  return (
    <span class={`badge ${cls}`} data-testid="target-health">
      {label}
    </span>
  )
}

export function Upstreams({ canWrite }: { canWrite: boolean }) {
  // Health moves by itself (active checks, passive ejection): refreshed every second.
  const { data: s, error } = usePoll(loadStatus, 1000)
  if (s === null) return <p class={error === null ? 'muted' : 'error'}>{error ?? 'Loading…'}</p>
  return (
    <>
      <div class="titlebar">
        <h1>Upstreams</h1>
        {canWrite && (
          <a class="button" href={href('edit', 'upstreams')}>
            New upstream
          </a>
        )}
      </div>
      {error !== null && <p role="alert" class="error">Refresh failed: {error}</p>}
      {/* /status is this instance's: each instance checks its targets itself, so another instance may see them otherwise. */}
      <p class="muted" data-testid="upstreams-scope">
        Health, breakers and in-flight counts as this instance's workers see them; other instances of a fleet check their targets themselves.
      </p>
      {Object.entries(s.upstreams).map(([name, u]) => (
        <section key={name} class="card" aria-labelledby={`up-${name}`} data-upstream={name}>
          <div class="titlebar">
            <h2 id={`up-${name}`}>{name}</h2>
            {canWrite && (
              <a class="button small" href={href('edit', 'upstreams', name)} aria-label={`Edit upstream ${name}`}>
                Edit
              </a>
            )}
          </div>
          <p class="muted">
            {u.balancer} · breaker{' '}
            <span class={`badge ${u.breaker === null ? 'muted' : u.breaker === 'closed' ? 'good' : 'bad'}`} data-testid="breaker">
              {u.breaker ?? 'none'}
            </span>{' '}
            · in flight {u.in_flight ?? '—'} · queued {u.queued ?? '—'}
          </p>
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Target</th>
                  <th scope="col">Weight</th>
                  <th scope="col">Health</th>
                  <th scope="col">In flight</th>
                  <th scope="col">Out of rotation on workers</th>
                </tr>
              </thead>
              <tbody>
                {u.targets.map((t) => (
                  <tr key={t.url} data-target={t.url}>
                    <td>
                      <code>{t.url}</code>
                    </td>
                    <td>{t.weight}</td>
                    <td>
                      <Health t={t} />
                    </td>
                    <td>{t.in_flight}</td>
                    <td>{t.unhealthy_on.length === 0 ? '—' : t.unhealthy_on.join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ))}
    </>
  )
}

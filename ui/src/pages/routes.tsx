import { useState } from 'preact/hooks'
import { call, explain } from '../api'
import { href, usePoll } from '../hooks'
import { loadStatus, type RouteStatus } from '../status'
import { ExplainTool } from './explain'

const list = (v: string[] | null) => (v === null || v.length === 0 ? <span class="muted">any</span> : v.join(', '))

function matches(r: RouteStatus, q: string): boolean {
  if (q === '') return true
  const hay = [r.name, r.upstream, ...(r.hosts ?? []), ...(r.methods ?? []), ...r.paths, ...r.plugins].join(' ').toLowerCase()
  return q
    .toLowerCase()
    .split(/\s+/)
    .every((w) => hay.includes(w))
}

export function Routes({ canWrite }: { canWrite: boolean }) {
  const { data: s, error } = usePoll(loadStatus, 3000)
  const [q, setQ] = useState('')
  const shown = (s?.routes ?? []).filter((r) => matches(r, q))
  return (
    <>
      <div class="titlebar">
        <h1>Routes</h1>
        {canWrite && (
          <a class="button" href={href('edit', 'routes')}>
            New route
          </a>
        )}
      </div>
      <label class="filter">
        Filter <input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} placeholder="name, host, path, method, plugin, upstream" />
      </label>
      {error !== null && <p role="alert" class="error">{error}</p>}
      {s === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <div class="scroll">
          <table data-testid="routes">
            <caption class="muted">
              {shown.length} of {s.routes.length} routes (config version {s.config.version})
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Hosts</th>
                <th scope="col">Methods</th>
                <th scope="col">Paths</th>
                <th scope="col">Plugins</th>
                <th scope="col">Upstream</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr key={r.name}>
                  <th scope="row">
                    <a href={href('routes', r.name)}>{r.name}</a>
                  </th>
                  <td>{list(r.hosts)}</td>
                  <td>{list(r.methods)}</td>
                  <td>
                    {r.paths.map((p) => (
                      <code key={p}>{p} </code>
                    ))}
                  </td>
                  <td>{r.plugins.length === 0 ? <span class="muted">none</span> : r.plugins.join(', ')}</td>
                  <td>{r.upstream}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ExplainTool />
    </>
  )
}

interface RoutePlugin {
  name: string
  enabled?: boolean
  config?: unknown
}

export function RouteDetail({ name, canWrite }: { name: string; canWrite: boolean }) {
  const { data, error } = usePoll(
    async () => {
      const [s, r] = await Promise.all([loadStatus(), call<{ data: Record<string, unknown> & { plugins?: RoutePlugin[] } }>(`/admin/routes/${encodeURIComponent(name)}`)])
      if (!r.ok) throw new Error(explain(r))
      return { status: s.routes.find((x) => x.name === name), def: r.body.data, global: (await call<{ data: RoutePlugin[] }>('/admin/plugins')).body.data ?? [] }
    },
    5000,
    [name],
  )
  if (data === null) return <p class={error === null ? 'muted' : 'error'}>{error ?? 'Loading…'}</p>
  const own = new Map((data.def.plugins ?? []).map((p) => [p.name, p]))
  const global = new Map(data.global.map((p) => [p.name, p]))
  return (
    <>
      <p>
        <a href={href('routes')}>← Routes</a>
      </p>
      <div class="titlebar">
        <h1>Route {name}</h1>
        {canWrite && (
          <a class="button" href={href('edit', 'routes', name)}>
            Edit
          </a>
        )}
      </div>
      {data.status !== undefined && (
        <dl class="facts">
          <div>
            <dt>Hosts</dt>
            <dd>{list(data.status.hosts)}</dd>
          </div>
          <div>
            <dt>Methods</dt>
            <dd>{list(data.status.methods)}</dd>
          </div>
          <div>
            <dt>Paths</dt>
            <dd>{data.status.paths.join(', ')}</dd>
          </div>
          <div>
            <dt>Upstream</dt>
            <dd>
              <a href={href('upstreams')}>{data.status.upstream}</a>
            </dd>
          </div>
        </dl>
      )}
      <h2>Plugins in effect</h2>
      <p class="muted">Global plugins (unless the route disables them) merged with the route's own; the compiled pipeline runs them by phase, then priority.</p>
      {data.status === undefined || data.status.plugins.length === 0 ? (
        <p>No plugins.</p>
      ) : (
        <ol class="plugins" data-testid="route-plugins">
          {data.status.plugins.map((p) => {
            const def = own.get(p) ?? global.get(p)
            return (
              <li key={p}>
                <strong>{p}</strong> <span class="muted">{own.has(p) ? (global.has(p) ? 'route (overrides global)' : 'route') : 'global'}</span>
                {def?.config !== undefined && <pre>{JSON.stringify(def.config, null, 2)}</pre>}
              </li>
            )
          })}
        </ol>
      )}
      <h2>Definition</h2>
      <pre>{JSON.stringify(data.def, null, 2)}</pre>
    </>
  )
}

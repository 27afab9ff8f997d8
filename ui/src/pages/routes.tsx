import { useState } from 'preact/hooks'
import { call, explain } from '../api'
import { href, usePoll } from '../hooks'
import { loadStatus, type RouteStatus } from '../status'
import { ExplainTool, Pipeline, type Explanation } from './explain'

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
      const [s, r, g, x] = await Promise.all([
        loadStatus(),
        call<{ data: Record<string, unknown> & { plugins?: RoutePlugin[] } }>(`/admin/routes/${encodeURIComponent(name)}`),
        call<{ data: RoutePlugin[] }>('/admin/plugins'),
        // The compiled pipeline in run order (phase, then priority), as a worker builds it.
        call<{ data: Explanation }>('/admin/explain', { method: 'POST', body: { route: name } }),
      ])
      if (!r.ok) throw new Error(explain(r))
      if (!x.ok) throw new Error(explain(x))
      return { status: s.routes.find((x) => x.name === name), def: r.body.data, global: g.body.data ?? [], pipeline: x.body.data.matched ? x.body.data.pipeline : [] }
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
      <h2>Compiled pipeline</h2>
      <p class="muted">Global plugins (unless the route disables them) merged with the route's own, in the order a worker runs them: by phase (rewrite, access, before upstream, response, log), then priority (highest first). A plugin with several phases appears in each; consumer plugins join once an auth plugin identifies a consumer.</p>
      {data.pipeline.length === 0 ? (
        <p>No plugins.</p>
      ) : (
        <Pipeline
          steps={data.pipeline}
          testid="route-plugins"
          detail={(step) => {
            const def = step.from === 'route' ? own.get(step.name) : global.get(step.name)
            const first = data.pipeline.find((x) => x.name === step.name) === step
            return (
              <>
                {step.from === 'route' && global.has(step.name) && <span class="muted"> (overrides global)</span>}
                {first && def?.config !== undefined && <pre>{JSON.stringify(def.config, null, 2)}</pre>}
              </>
            )
          }}
        />
      )}
      <h2>Definition</h2>
      <pre>{JSON.stringify(data.def, null, 2)}</pre>
    </>
  )
}

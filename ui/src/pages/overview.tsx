import { loadFleet, type Loaded } from '../fleet'
import { href, usePoll } from '../hooks'
import { loadStatus, type Reload } from '../status'
import { FleetTable } from './fleet'

const ago = (iso: string) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  return s < 90 ? `${s}s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`
}

function ReloadRow({ r }: { r: Reload }) {
  return (
    <tr>
      <td>
        <time dateTime={r.at} title={r.at}>
          {ago(r.at)}
        </time>
      </td>
      <td>{r.trigger}</td>
      <td>
        <span class={`badge ${r.result === 'ok' ? 'good' : 'bad'}`}>{r.result}</span>
      </td>
      <td>{r.version ?? '—'}</td>
      <td>
        {r.errors.length === 0 ? (
          '—'
        ) : (
          <ul class="errors">
            {r.errors.map((e, i) => (
              // The words and layout of `portico validate` (formatErrors in src/config/errors.ts).
              <li key={i}>
                <code>{[e.file, e.line === undefined ? undefined : `${e.line}:${e.column ?? 0}`].filter((x) => x !== undefined).join(':')}</code> {e.path === undefined || e.path === '' ? '' : `${e.path}: `}
                {e.message}
                {e.hint !== undefined && <span class="hint"> ({e.hint})</span>}
                {e.worker !== undefined && <span class="muted"> (worker {e.worker})</span>}
              </li>
            ))}
          </ul>
        )}
      </td>
    </tr>
  )
}

/**
 * The instances sharing this one's etcd prefix, as on the fleet page: which serve which revision,
 * which are behind or not ready. Without a fleet view, one line saying why.
 */
function FleetSection({ data, error }: { data: Loaded | null; error: string | null }) {
  if (data === null) return error === null ? null : <p class="error">Fleet: {error}</p>
  if ('off' in data) {
    return (
      <p class="muted" data-testid="overview-fleet-off">
        Fleet: none. {data.off.charAt(0).toUpperCase() + data.off.slice(1)}.
      </p>
    )
  }
  const f = data.fleet
  const notReady = f.data.filter((r) => !r.ready).length
  return (
    <section aria-labelledby="overview-fleet-title">
      <h2 id="overview-fleet-title">Fleet</h2>
      {error !== null && <p role="alert" class="error">Fleet refresh failed: {error}</p>}
      <p data-testid="overview-fleet-summary">
        <strong>{f.total}</strong> instance{f.total === 1 ? '' : 's'} on <code>{f.prefix}</code>:{' '}
        <span class={`badge ${f.behind === 0 ? 'good' : 'warn'}`}>{f.behind} behind</span>
        <span class={`badge ${notReady === 0 ? 'good' : 'bad'}`}>{notReady} not ready</span>
        {f.newest_revision !== null && <span class="muted">newest revision {f.newest_revision}</span>}
        {!f.synced && <span class="badge warn">not synced with etcd: last known records</span>} <a href={href('fleet')}>Fleet page</a>
      </p>
      <FleetTable fleet={f} testid="overview-fleet" />
    </section>
  )
}

export function Overview() {
  const { data: s, error } = usePoll(loadStatus, 2000)
  const fleet = usePoll(loadFleet, 2000)
  if (s === null) return <p class={error === null ? 'muted' : 'error'}>{error ?? 'Loading status…'}</p>
  const reloads = s.reloads ?? (s.last_reload === null ? [] : [s.last_reload])
  return (
    <>
      <h1>Overview</h1>
      {error !== null && <p role="alert" class="error">Status refresh failed: {error}</p>}
      <dl class="facts">
        <div>
          <dt>Readiness</dt>
          <dd>
            <span class={`badge ${s.ready ? 'good' : 'bad'}`} data-testid="readiness">
              {s.draining ? 'draining' : s.ready ? 'ready' : 'not ready'}
            </span>
          </dd>
        </div>
        <div>
          <dt>Config version</dt>
          <dd data-testid="config-version">{s.config.version}</dd>
        </div>
        <div>
          <dt>Source</dt>
          <dd>
            {s.config_center === undefined ? 'file' : 'etcd'} <code>{s.config.file}</code>
          </dd>
        </div>
        <div>
          <dt>Loaded</dt>
          <dd>
            <time dateTime={s.config.loaded_at}>{ago(s.config.loaded_at)}</time> · <code title="config hash">{s.config.hash.slice(0, 12)}</code>
          </dd>
        </div>
        <div>
          <dt>Gateway</dt>
          <dd>
            Portico {s.version} · {s.mode} · pid {s.pid} · up {Math.round(s.uptime_s / 60)} min
          </dd>
        </div>
        <div>
          <dt>Routes / upstreams</dt>
          <dd>
            {s.routes.length} / {Object.keys(s.upstreams).length}
          </dd>
        </div>
      </dl>
      <FleetSection data={fleet.data} error={fleet.error} />
      <h2>Workers{fleet.data !== null && 'fleet' in fleet.data ? ' of this instance' : ''}</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Slot</th>
              <th scope="col">PID</th>
              <th scope="col">State</th>
              <th scope="col">Config version</th>
              <th scope="col">Restarts</th>
              <th scope="col">In flight</th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {s.workers.map((w) => (
              <tr key={w.slot}>
                <td>{w.slot}</td>
                <td>{w.pid ?? '—'}</td>
                <td>
                  <span class={`badge ${w.state === 'ready' || w.state === 'running' ? 'good' : 'warn'}`}>{w.state}</span>
                  {!w.answered && <span class="muted"> (did not answer)</span>}
                </td>
                <td>{w.config_version ?? '—'}</td>
                <td>{w.restarts}</td>
                <td>{w.in_flight ?? '—'}</td>
                <td>{w.last_error ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Last reloads</h2>
      {reloads.length === 0 ? (
        <p class="muted">No reload since start.</p>
      ) : (
        <div class="scroll">
          <table data-testid="reloads">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Trigger</th>
                <th scope="col">Result</th>
                <th scope="col">Version</th>
                <th scope="col">Errors</th>
              </tr>
            </thead>
            <tbody>
              {reloads.map((r, i) => (
                <ReloadRow key={i} r={r} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}

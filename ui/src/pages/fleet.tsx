// The fleet page: every instance sharing the etcd prefix (GET /admin/fleet). Its table is also the
// overview's fleet section.
import { loadFleet, type FleetDoc, type FleetInstance } from '../fleet'
import { usePoll } from '../hooks'

const ago = (s: number) => {
  const n = Math.max(0, Math.round(s))
  return n < 90 ? `${n}s ago` : n < 5400 ? `${Math.round(n / 60)} min ago` : `${Math.round(n / 3600)} h ago`
}

function Row({ r, newest }: { r: FleetInstance; newest: string | null }) {
  return (
    <tr data-instance={r.id}>
      <th scope="row">
        {r.id}
        {r.self && <span class="muted"> (this one)</span>}
        <div class="muted small">
          {r.hostname} · pid {r.pid}
        </div>
      </th>
      <td>
        <code>{r.admin ?? '—'}</code>
        {r.listen.map((l) => (
          <div key={l.address} class="muted small">
            {l.proto} <code>{l.address}</code>
          </div>
        ))}
      </td>
      <td>
        {r.version}
        {r.build !== null && <div class="muted small">{r.build}</div>}
      </td>
      <td>
        <span data-testid="instance-revision">{r.config.revision ?? '—'}</span>
        <div class="muted small">
          v{r.config.version} · <code title="hash of the etcd resources it serves">{(r.config.resources ?? r.config.hash).slice(0, 10)}</code>
        </div>
      </td>
      <td>
        <span class={`badge ${r.behind ? 'warn' : 'good'}`} data-testid="instance-sync" title={r.behind && newest !== null ? `newest revision is ${newest}` : undefined}>
          {r.behind ? 'behind' : 'current'}
        </span>
      </td>
      <td>
        <span class={`badge ${r.ready ? 'good' : 'bad'}`} data-testid="instance-ready">
          {r.ready ? 'ready' : 'not ready'}
        </span>
        {r.health_detail !== null && <div class="muted small">{r.health_detail}</div>}
      </td>
      <td>
        <time dateTime={r.updated_at} title={r.updated_at}>
          {ago(r.updated_ago_s)}
        </time>
      </td>
    </tr>
  )
}

export function Fleet() {
  // Instances come and go by themselves (a lease expires, a deploy rolls): refreshed every 2 s.
  const { data, error } = usePoll(loadFleet, 2000)
  if (data === null) return <p class={error === null ? 'muted' : 'error'}>{error ?? 'Loading…'}</p>
  if ('off' in data) {
    return (
      <>
        <h1>Fleet</h1>
        <div class="panel" data-testid="fleet-empty">
          <p>This gateway has no fleet view: {data.off}.</p>
          <p class="muted">
            Instances list each other when they share an etcd config center (<code>config_center.etcd</code>, with <code>fleet.enabled</code> left on). See docs/config-center.md, “Fleet view”.
          </p>
        </div>
      </>
    )
  }
  const f = data.fleet
  return (
    <>
      <h1>Fleet</h1>
      {error !== null && <p role="alert" class="error">Refresh failed: {error}</p>}
      <dl class="facts">
        <div>
          <dt>Instances</dt>
          <dd data-testid="fleet-total">{f.total}</dd>
        </div>
        <div>
          <dt>Behind</dt>
          <dd>
            <span class={`badge ${f.behind === 0 ? 'good' : 'warn'}`} data-testid="fleet-behind">
              {f.behind}
            </span>
          </dd>
        </div>
        <div>
          <dt>Newest revision</dt>
          <dd>{f.newest_revision ?? '—'}</dd>
        </div>
        <div>
          <dt>This view</dt>
          <dd>
            <span class={`badge ${f.synced ? 'good' : 'warn'}`} data-testid="fleet-synced">
              {f.synced ? 'synced with etcd' : 'not synced: last known records'}
            </span>
            {!f.registered && <span class="badge warn">re-registering</span>}
          </dd>
        </div>
        <div>
          <dt>Prefix</dt>
          <dd>
            <code>{f.prefix}</code> · lease {f.ttl_s}s
          </dd>
        </div>
      </dl>
      {f.last_error !== undefined && f.last_error !== null && (
        <p role="alert" class="panel warn">
          etcd: {f.last_error}
        </p>
      )}
      <h2>Instances</h2>
      <p class="muted">
        As this instance ({f.id}) follows the fleet prefix. An instance that stops leaves at once; one that is killed leaves when its lease expires. “Record written” is when its record last
        changed (config, health, re-registration), not a heartbeat.
      </p>
      <FleetTable fleet={f} testid="fleet" />
    </>
  )
}

/** One row per instance: node, addresses, version, the config revision it serves, current or behind, health, record age. */
export function FleetTable({ fleet: f, testid }: { fleet: FleetDoc; testid: string }) {
  return (
    <>
      {f.data.length === 0 ? (
        <p class="panel">No instance is registered.</p>
      ) : (
        <div class="scroll">
          <table data-testid={testid} class="wide">
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Address</th>
                <th scope="col">Version</th>
                <th scope="col">Config revision</th>
                <th scope="col">Sync</th>
                <th scope="col">Health</th>
                <th scope="col">Record written</th>
              </tr>
            </thead>
            <tbody>
              {f.data.map((r) => (
                <Row key={r.id} r={r} newest={f.newest_revision} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}

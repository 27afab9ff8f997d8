import { call, explain } from '../api'
import { usePoll } from '../hooks'

interface AuditRecord {
  time: string
  token: string | null
  role: string | null
  client: string
  method: string
  resource: string
  status: number
  result: string
  dry_run: boolean
  version_before: number | null
  version_after: number | null
  diff: Array<{ kind: string; name: string; op: string }>
}

export function Audit({ canRead }: { canRead: boolean }) {
  const { data, error } = usePoll(
    async () => {
      if (!canRead) return []
      const a = await call<{ data: AuditRecord[] }>('/admin/audit?limit=200')
      if (!a.ok) throw new Error(explain(a))
      return a.body.data
    },
    5000,
    [canRead],
  )
  return (
    <>
      <h1>Audit log</h1>
      <p class="muted">Every write and refused write to the admin API on this instance since it started, newest first (the file in admin.audit_log keeps them all).</p>
      {!canRead && <p class="panel warn">The audit log is for roles that may write (editor, admin).</p>}
      {error !== null && <p role="alert" class="error">{error}</p>}
      {data !== null && canRead && (
        <div class="scroll">
          <table data-testid="audit">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Token</th>
                <th scope="col">Request</th>
                <th scope="col">Result</th>
                <th scope="col">Versions</th>
                <th scope="col">Changes</th>
              </tr>
            </thead>
            <tbody>
              {data.map((r, i) => (
                <tr key={i}>
                  <td>
                    <time dateTime={r.time}>{r.time.replace('T', ' ').slice(0, 19)}</time>
                  </td>
                  <td>
                    {r.token ?? <span class="muted">none</span>} {r.role !== null && <span class="muted">({r.role})</span>}
                  </td>
                  <td>
                    <code>
                      {r.method} {r.resource}
                    </code>
                    {r.dry_run && <span class="badge muted">dry run</span>}
                  </td>
                  <td>
                    <span class={`badge ${r.status < 400 ? 'good' : 'bad'}`}>
                      {r.status} {r.result}
                    </span>
                  </td>
                  <td>
                    {r.version_before ?? '—'} → {r.version_after ?? '—'}
                  </td>
                  <td>{r.diff.map((d) => `${d.op} ${d.kind} ${d.name}`).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}

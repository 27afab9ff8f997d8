import { usePoll } from '../hooks'
import { loadStatus, type AcmeRenewal, type CertificateStatus } from '../status'

const DAY = 86_400_000
/** Below this a certificate is flagged: ACME renews 90-day certificates with 30 days left, so a file one this close to the end has likely been forgotten. */
export const WARN_DAYS = 14

/** The expiry state a row shows, in words (not colour alone) and as a badge class. */
export function expiry(c: CertificateStatus, now = Date.now()): { cls: 'good' | 'warn' | 'bad'; label: string; days: number } {
  const left = Date.parse(c.not_after) - now
  const days = Math.floor(left / DAY)
  if (left <= 0) return { cls: 'bad', label: `expired ${-days - 1 === 0 ? 'today' : `${-days - 1} day${-days - 1 === 1 ? '' : 's'} ago`}`, days }
  if (Date.parse(c.not_before) > now) return { cls: 'warn', label: 'not yet valid', days }
  const words = days === 0 ? 'less than a day left' : `${days} day${days === 1 ? '' : 's'} left`
  return { cls: days < WARN_DAYS ? 'warn' : 'good', label: days < WARN_DAYS ? `expires soon: ${words}` : words, days }
}

function Source({ source }: { source: string }) {
  // 'file:<path>' names the file to replace; 'acme' and 'inline' are all there is to say.
  const i = source.indexOf(':')
  if (i < 0) return <>{source}</>
  return (
    <>
      {source.slice(0, i)} <code class="wrap">{source.slice(i + 1)}</code>
    </>
  )
}

/** The ACME renewals the primary runs: when it looks next, what it ordered, what failed last. */
function Renewals({ acme }: { acme: AcmeRenewal[] }) {
  return (
    <>
      <h2>ACME renewals</h2>
      <div class="scroll">
        <table data-testid="acme-renewals" class="wide">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Names</th>
              <th scope="col">Next check</th>
              <th scope="col">Orders</th>
              <th scope="col">Failures</th>
              <th scope="col">Last error</th>
              <th scope="col">CA window (ARI)</th>
            </tr>
          </thead>
          <tbody>
            {acme.map((a) => (
              <tr key={a.name} data-renewal={a.name}>
                <th scope="row">
                  {a.name}
                  {a.on_demand === true && <span class="muted"> (on demand)</span>}
                </th>
                <td>{a.names.join(', ')}</td>
                <td class="nowrap">{a.ordering ? 'ordering now' : a.next_check === null ? '—' : <time dateTime={a.next_check}>{a.next_check.slice(0, 16).replace('T', ' ')} UTC</time>}</td>
                <td>{a.orders}</td>
                <td>{a.failures === 0 ? <span class="badge good">0</span> : <span class="badge bad">{a.failures} in a row</span>}</td>
                <td>{a.last_error === null ? '—' : <span class="error">{a.last_error.at.slice(0, 16).replace('T', ' ')} UTC: {a.last_error.message}</span>}</td>
                <td>{a.ari_window == null ? '—' : `${a.ari_window.start.slice(0, 10)} → ${a.ari_window.end.slice(0, 10)}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  )
}

export function Certificates() {
  // A rotation (a file replaced, an ACME renewal) moves worker by worker: refreshed every 5 s.
  const { data: s, error } = usePoll(loadStatus, 5000)
  if (s === null) return <p class={error === null ? 'muted' : 'error'}>{error ?? 'Loading…'}</p>
  const certs = s.certificates ?? []
  const now = Date.now()
  return (
    <>
      <h1>Certificates</h1>
      {error !== null && <p role="alert" class="error">Refresh failed: {error}</p>}
      {certs.length === 0 ? (
        <p class="panel" data-testid="certificates-empty">
          No certificate is served: this gateway has no HTTPS listener (<code>server.listeners[].tls</code>), or no worker answered.
        </p>
      ) : (
        <>
          <p class="muted">
            One row per certificate the workers serve; during a rotation the old and the new one are both listed until every worker moved. Flagged under {WARN_DAYS} days left.
          </p>
          <div class="scroll">
            <table data-testid="certificates" class="wide">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Names (SANs)</th>
                  <th scope="col">Key</th>
                  <th scope="col">Issuer</th>
                  <th scope="col">Not after</th>
                  <th scope="col">Expiry</th>
                  <th scope="col">Source</th>
                  <th scope="col">Workers</th>
                </tr>
              </thead>
              <tbody>
                {certs.map((c) => {
                  const e = expiry(c, now)
                  return (
                    <tr key={c.fingerprint256} data-certificate={c.name} data-fingerprint={c.fingerprint256}>
                      <th scope="row">{c.name}</th>
                      <td data-testid="certificate-names">
                        {c.names.map((n, i) => (
                          <span key={n}>
                            {i > 0 && ', '}
                            <code>{n}</code>
                          </span>
                        ))}
                      </td>
                      <td>{c.key_type}</td>
                      <td>{c.issuer}</td>
                      <td class="nowrap">
                        <time dateTime={c.not_after} data-testid="not-after">
                          {c.not_after.slice(0, 10)}
                        </time>
                      </td>
                      <td>
                        <span class={`badge ${e.cls}`} data-testid="expiry" data-days={e.days}>
                          {e.label}
                        </span>
                      </td>
                      <td>
                        <Source source={c.source} />
                      </td>
                      <td>{c.workers.length === 0 ? '—' : [...c.workers].sort((a, b) => a - b).join(', ')}</td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
      {(s.acme ?? []).length > 0 && <Renewals acme={s.acme!} />}
    </>
  )
}

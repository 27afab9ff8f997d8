// DNS-01 (RFC 8555 §8.4): the primary puts a TXT record at _acme-challenge.<name> through a small
// provider interface, and takes it away once the CA has validated. Two providers, so any DNS can
// be driven without Portico knowing its API:
//   exec:    <command...> present|cleanup <record FQDN, trailing dot> <value>   (lego's exec convention)
//   webhook: POST <url> {"action":"present"|"cleanup","domain","name","value"}, any 2xx = done
// Both have a deadline; a failure fails the order (it backs off like any other failure).
import { execFile } from 'node:child_process'
import { request } from 'undici'
import type { DnsConfig } from '../../config/schema/tls.js'
import { parseDuration } from '../../config/units.js'

export interface DnsRecord {
  /** The identifier being validated (no "*." even for a wildcard certificate). */
  domain: string
  /** FQDN of the TXT record, with the trailing dot: _acme-challenge.<domain>. */
  name: string
  /** The TXT value (base64url SHA-256 of the key authorization). */
  value: string
}

export interface DnsProvider {
  present(r: DnsRecord): Promise<void>
  cleanup(r: DnsRecord): Promise<void>
}

export function dnsRecord(domain: string, value: string): DnsRecord {
  const d = domain.replace(/^\*\./, '').toLowerCase()
  return { domain: d, name: `_acme-challenge.${d}.`, value }
}

export function dnsProvider(cfg: DnsConfig): DnsProvider {
  if (cfg.webhook !== undefined) {
    const w = cfg.webhook
    const timeoutMs = parseDuration(w.timeout ?? '30s')
    const call = async (action: 'present' | 'cleanup', r: DnsRecord): Promise<void> => {
      const res = await request(w.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(w.headers ?? {}) },
        body: JSON.stringify({ action, domain: r.domain, name: r.name, value: r.value }),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
      await res.body.dump()
      // The URL may carry a token in its query: name the host only.
      if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`dns-01 webhook (${new URL(w.url).host}) answered ${res.statusCode} to ${action} ${r.name}`)
    }
    return { present: (r) => call('present', r), cleanup: (r) => call('cleanup', r) }
  }
  if (cfg.exec !== undefined) {
    const [file, ...args] = cfg.exec.command
    const timeoutMs = parseDuration(cfg.exec.timeout ?? '30s')
    const run = (action: 'present' | 'cleanup', r: DnsRecord): Promise<void> =>
      new Promise((resolve, reject) => {
        execFile(file!, [...args, action, r.name, r.value], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 }, (err, _stdout, stderr) => {
          if (err === null) return resolve()
          const why = (err as NodeJS.ErrnoException & { killed?: boolean }).killed === true ? `did not finish within ${timeoutMs} ms` : err.message.split('\n')[0]
          reject(new Error(`dns-01 exec hook ${file} ${action} ${r.name}: ${why}${stderr.trim() === '' ? '' : `: ${stderr.trim().slice(0, 300)}`}`))
        })
      })
    return { present: (r) => run('present', r), cleanup: (r) => run('cleanup', r) }
  }
  throw new Error('acme.dns needs webhook or exec')
}

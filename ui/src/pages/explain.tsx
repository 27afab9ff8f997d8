// The explain tool: which route a method + URL + headers would hit (POST /admin/explain, the
// worker's own router on the serving config), with its plugins and targets.
import { useState } from 'preact/hooks'
import { call, explain as describe } from '../api'
import { href } from '../hooks'

type Explanation =
  | { matched: true; route: string; params: Record<string, string>; plugins: string[]; upstream: string; targets: Array<{ upstream: string; url: string; weight: number }>; strip_prefix: string | null; upstream_path: string }
  | { matched: false; status: number; error: string; message: string; allow?: string }

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim()
  }
  return out
}

export function ExplainTool() {
  const [method, setMethod] = useState('GET')
  const [url, setUrl] = useState('/')
  const [headers, setHeaders] = useState('')
  const [result, setResult] = useState<Explanation | null>(null)
  const [error, setError] = useState<string | null>(null)
  const submit = async (e: Event) => {
    e.preventDefault()
    setError(null)
    const a = await call<{ data: Explanation }>('/admin/explain', { method: 'POST', body: { method, url, headers: parseHeaders(headers) } })
    if (!a.ok) {
      setResult(null)
      return setError(describe(a))
    }
    setResult(a.body.data)
  }
  return (
    <section class="card" aria-labelledby="explain-title">
      <h2 id="explain-title">Explain a request</h2>
      <form onSubmit={submit} class="explain">
        <div>
          <label for="explain-method">Method</label>
          <select id="explain-method" value={method} onChange={(e) => setMethod((e.target as HTMLSelectElement).value)}>
            {METHODS.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </div>
        <div class="grow">
          <label for="explain-url">URL or path</label>
          <input id="explain-url" value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} placeholder="http://api.example.com/users/7" />
        </div>
        <div class="grow">
          <label for="explain-headers">Headers (one "name: value" a line)</label>
          <textarea id="explain-headers" rows={2} value={headers} onInput={(e) => setHeaders((e.target as HTMLTextAreaElement).value)} />
        </div>
        <button type="submit">Explain</button>
      </form>
      <div aria-live="polite" data-testid="explain-result">
        {error !== null && <p class="error">{error}</p>}
        {result !== null &&
          (result.matched ? (
            <p>
              → route <a href={href('routes', result.route)}>{result.route}</a>
              {Object.keys(result.params).length > 0 && <> with {Object.entries(result.params).map(([k, v]) => `${k}=${v}`).join(', ')}</>}; plugins{' '}
              {result.plugins.length === 0 ? 'none' : result.plugins.join(' → ')}; upstream {result.upstream}
              {result.strip_prefix !== null && <> (strips {result.strip_prefix})</>}, path {result.upstream_path}; targets {result.targets.map((t) => t.url).join(', ') || 'from discovery'}
            </p>
          ) : (
            <p class="error">
              {result.status} {result.error}: {result.message}
              {result.allow !== undefined && <> (Allow: {result.allow})</>}
            </p>
          ))}
      </div>
    </section>
  )
}

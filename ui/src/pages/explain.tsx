// The explain tool: which route a method + URL + headers would hit (POST /admin/explain, the
// worker's own router on the serving config), with its plugins and targets.
import { useState } from 'preact/hooks'
import { call, explain as describe } from '../api'
import { href } from '../hooks'

/** One step of a route's compiled pipeline, in run order (phase, then priority). */
export interface PipelineStep {
  name: string
  phase: 'rewrite' | 'access' | 'beforeUpstream' | 'response' | 'log'
  priority: number
  from: 'global' | 'route' | 'consumer'
}

export type Explanation =
  | {
      matched: true
      route: string
      params: Record<string, string>
      plugins: string[]
      pipeline: PipelineStep[]
      upstream: string
      targets: Array<{ upstream: string; url: string; weight: number }>
      strip_prefix: string | null
      upstream_path: string | null
    }
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
        {result?.matched === true && (
          <>
            <p>
              → route <a href={href('routes', result.route)}>{result.route}</a>
              {Object.keys(result.params).length > 0 && <> with {Object.entries(result.params).map(([k, v]) => `${k}=${v}`).join(', ')}</>}; upstream {result.upstream}
              {result.strip_prefix !== null && <> (strips {result.strip_prefix})</>}, path {result.upstream_path}; targets {result.targets.map((t) => t.url).join(', ') || 'from discovery'};{' '}
              {result.pipeline.length === 0 ? 'no plugins' : 'plugins in run order:'}
            </p>
            {result.pipeline.length > 0 && <Pipeline steps={result.pipeline} testid="explain-pipeline" />}
          </>
        )}
        {result?.matched === false && (
          <p class="error">
            {result.status} {result.error}: {result.message}
            {result.allow !== undefined && <> (Allow: {result.allow})</>}
          </p>
        )}
      </div>
    </section>
  )
}

const PHASE_LABEL: Record<PipelineStep['phase'], string> = { rewrite: 'rewrite', access: 'access', beforeUpstream: 'before upstream', response: 'response', log: 'log' }

/** The compiled pipeline: one row per (plugin, phase) step, in the order a worker runs them. */
export function Pipeline({ steps, testid, detail }: { steps: PipelineStep[]; testid: string; detail?: (s: PipelineStep) => preact.ComponentChildren }) {
  return (
    <ol class="plugins pipeline" data-testid={testid}>
      {steps.map((s, i) => (
        <li key={`${s.phase}-${s.name}`} data-plugin={s.name} data-phase={s.phase} data-step={i + 1}>
          <span class="phase">{PHASE_LABEL[s.phase]}</span> <strong>{s.name}</strong>{' '}
          <span class="muted">
            priority {s.priority}, {s.from}
          </span>
          {detail?.(s)}
        </li>
      ))}
    </ol>
  )
}

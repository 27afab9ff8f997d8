// Create, edit and delete one route, upstream or consumer through the admin API: YAML or JSON,
// checked against the published schema as you type, a dry run (the gateway's own validator and
// the diff) before applying, and If-Match on every write so a lost update is a visible 412.
// Each kind also has a form view (./forms.tsx, ./consumer-form.tsx): another view of the same
// text, so both views share the validation, the dry run and the apply below.
import { useEffect, useMemo, useState } from 'preact/hooks'
import { parse, stringify } from 'yaml'
import { call, explain, type Answer, type ApiError, type Change } from '../api'
import { lineDiff } from '../diff'
import { href } from '../hooks'
import { formatPath, validatePluginConfigs, validateResource, type Kind, type Problem } from '../validate'
import { ConsumerForm, GlobalPluginForm } from './consumer-form'
import { RouteForm, UpstreamForm, type FormProblem } from './forms'
import { BUILTIN_ONLY, type InstalledPlugin } from './plugin-list'

const NOUN: Record<Kind, string> = { routes: 'route', upstreams: 'upstream', consumers: 'consumer', plugins: 'global plugin' }
const KINDS: Kind[] = ['routes', 'upstreams', 'consumers', 'plugins']

const TEMPLATE: Record<Kind, unknown> = {
  routes: { name: 'new-route', paths: ['/new/*'], upstream: 'backend' },
  upstreams: { name: 'new-upstream', targets: [{ url: 'http://127.0.0.1:8081' }] },
  consumers: { name: 'new-consumer', credentials: { key_auth: ['${NEW_CONSUMER_KEY}'] } },
  plugins: { name: 'cors' },
}

type Format = 'yaml' | 'json'
type View = 'text' | 'form'
/** The kinds with a form view. */
const FORMS: Kind[] = ['routes', 'upstreams', 'consumers', 'plugins']
/** The kinds whose form offers plugins, from the gateway's installed list. */
const PICKS_PLUGINS: Kind[] = ['routes', 'consumers', 'plugins']
const show = (v: unknown, f: Format) => (f === 'yaml' ? stringify(v) : JSON.stringify(v, null, 2) + '\n')

type Parsed = { ok: true; value: unknown } | { ok: false; message: string }
function parseText(text: string, f: Format): Parsed {
  try {
    return { ok: true, value: f === 'yaml' ? parse(text) : JSON.parse(text) }
  } catch (e) {
    const err = e as Error & { linePos?: Array<{ line: number; col: number }> }
    const at = err.linePos?.[0]
    return { ok: false, message: `${f === 'yaml' ? 'YAML' : 'JSON'}: ${err.message.split('\n')[0]}${at === undefined ? '' : ` (line ${at.line}:${at.col})`}` }
  }
}

type Outcome =
  | { type: 'preview'; changes: Change[]; diff: ReturnType<typeof lineDiff> }
  | { type: 'applied'; version: number; changes: Change[]; warnings: string[] }
  | { type: 'deleted'; version: number }
  | { type: 'invalid'; body: ApiError }
  | { type: 'conflict'; message: string }
  | { type: 'failed'; message: string }

/**
 * What a create hands the editor it moves to (the new resource's own URL is a fresh, keyed
 * editor): the outcome to show, and the view and format the user was in, so a create made in the
 * form view lands in the form view.
 */
let carried: { outcome: Outcome; view: View; format: Format } | null = null

function ServerErrors({ body }: { body: ApiError }) {
  return (
    <div role="alert" class="panel bad" data-testid="server-errors">
      <p>
        <strong>{body.message}</strong>
      </p>
      <ul class="errors">
        {(body.errors ?? []).map((e, i) => (
          <li key={i}>
            <code>{e.path}</code>: {e.message}
            {e.hint !== undefined && <span class="hint"> — {e.hint}</span>}
          </li>
        ))}
      </ul>
    </div>
  )
}

export function Editor({ kind, name, canWrite }: { kind: Kind; name: string | null; canWrite: boolean }) {
  // Read once, before load() consumes it: the view and format a create was made in.
  const [arrived] = useState(() => carried)
  const [format, setFormat] = useState<Format>(arrived?.format ?? 'yaml')
  const [text, setText] = useState('')
  const [original, setOriginal] = useState<unknown>(null)
  const [etag, setEtag] = useState<string | null>(null)
  const [index, setIndex] = useState<number>(0)
  const [loadError, setLoadError] = useState<string | null>(null)
  const [outcome, setOutcome] = useState<Outcome | null>(null)
  const [busy, setBusy] = useState(false)
  const [confirmDelete, setConfirmDelete] = useState(false)
  const [view, setView] = useState<View>(arrived?.view ?? 'text')
  const [upstreamNames, setUpstreamNames] = useState<string[]>([])
  const [installed, setInstalled] = useState<InstalledPlugin[]>(BUILTIN_ONLY)
  // A viewer gets no form controls: the read-only text view only.
  const hasForm = canWrite && FORMS.includes(kind)

  const load = async () => {
    setOutcome(carried?.outcome ?? null)
    carried = null
    setLoadError(null)
    const all = await call<{ data: Array<{ name: string }> }>(`/admin/${kind}`)
    if (!all.ok) return setLoadError(explain(all))
    const items = all.body.data
    if (kind === 'routes') {
      const ups = await call<{ data: Array<{ name: string }> }>('/admin/upstreams')
      if (ups.ok) setUpstreamNames(ups.body.data.map((u) => u.name))
    }
    if (hasForm && PICKS_PLUGINS.includes(kind)) {
      // An older gateway without the endpoint: the built-ins the console was built with.
      const ins = await call<{ data: InstalledPlugin[] }>('/admin/installed-plugins')
      if (ins.ok) setInstalled(ins.body.data.map(({ name, origin, schema }) => ({ name, origin, schema })))
    }
    if (name === null) {
      setIndex(items.length)
      setOriginal(null)
      setEtag(null)
      setText(show(TEMPLATE[kind], format))
      return
    }
    const a = await call<{ data: unknown }>(`/admin/${kind}/${encodeURIComponent(name)}`)
    if (!a.ok) return setLoadError(explain(a))
    setIndex(Math.max(0, items.findIndex((r) => r.name === name)))
    setOriginal(a.body.data)
    setEtag(a.etag)
    setText(show(a.body.data, format))
  }
  useEffect(() => {
    if (KINDS.includes(kind)) void load()
  }, [kind, name])

  const parsed = useMemo(() => parseText(text, format), [text, format])
  const prefix: Array<string | number> = kind === 'upstreams' ? ['upstreams', name ?? String((parsed.ok ? (parsed.value as { name?: unknown } | null)?.name : undefined) ?? '')] : [kind, index]
  // The plugin configs too, against each installed plugin's schema (a form field shows its problem).
  const pluginSchemas = useMemo(() => new Map(installed.flatMap((p) => (p.schema === undefined ? [] : [[p.name, p.schema] as const]))), [installed])
  const problems: Problem[] = useMemo(() => (parsed.ok ? [...validateResource(kind, parsed.value, prefix), ...validatePluginConfigs(kind, parsed.value, prefix, pluginSchemas)] : []), [parsed, kind, index, name, pluginSchemas])
  /** The problems with paths relative to the resource, for the form to put by its fields. */
  const formProblems: FormProblem[] = useMemo(() => {
    const at = formatPath(prefix)
    return problems.map((p) => ({ ...p, full: p.path, path: p.path.startsWith(at) ? p.path.slice(at.length).replace(/^\./, '') : p.path }))
  }, [problems])
  const formValue = parsed.ok && typeof parsed.value === 'object' && parsed.value !== null && !Array.isArray(parsed.value) ? (parsed.value as Record<string, unknown>) : null

  // In the form view, Apply waits for the schema's problems to be fixed (they are by the fields).
  const formBlocks = hasForm && view === 'form' && formValue !== null && problems.length > 0

  if (!KINDS.includes(kind)) return <p class="error">Unknown kind {kind}.</p>
  const noun = NOUN[kind]
  const resourceName = parsed.ok ? (parsed.value as { name?: unknown } | null)?.name : undefined

  const switchFormat = (f: Format) => {
    if (parsed.ok) setText(show(parsed.value, f))
    setFormat(f)
  }
  /** The form's edit: the whole object back, shown as the text the other view edits. */
  const fromForm = (next: Record<string, unknown>) => {
    setText(show(next, format))
    setOutcome(null)
  }

  const write = async (dryRun: boolean) => {
    if (!parsed.ok) return
    setBusy(true)
    setOutcome(null)
    try {
      const q = dryRun ? '?dry_run=true' : ''
      const a: Answer<{ data: unknown; version: number; changes: Change[]; warnings?: string[] }> =
        name === null
          ? await call(`/admin/${kind}${q}`, { method: 'POST', body: parsed.value })
          : await call(`/admin/${kind}/${encodeURIComponent(name)}${q}`, { method: 'PUT', body: parsed.value, ifMatch: etag })
      if (a.status === 412) return setOutcome({ type: 'conflict', message: a.body.message ?? 'precondition failed' })
      if (a.status === 422) return setOutcome({ type: 'invalid', body: a.body as ApiError })
      if (!a.ok) return setOutcome({ type: 'failed', message: explain(a) })
      if (dryRun) {
        const before = original === null ? '' : show(original, format)
        return setOutcome({ type: 'preview', changes: a.body.changes, diff: lineDiff(before, show(a.body.data ?? parsed.value, format)) })
      }
      setOriginal(a.body.data)
      setEtag(a.etag)
      // Show what the gateway now serves: a key or secret just typed is "[REDACTED]" there, so it
      // leaves the page's state once written (the API keeps it on the next write).
      if (a.body.data !== null && a.body.data !== undefined) setText(show(a.body.data, format))
      const applied: Outcome = { type: 'applied', version: a.body.version, changes: a.body.changes, warnings: a.body.warnings ?? [] }
      setOutcome(applied)
      if (name === null && typeof resourceName === 'string') {
        carried = { outcome: applied, view, format }
        location.hash = href('edit', kind, resourceName)
      }
    } catch (e) {
      setOutcome({ type: 'failed', message: (e as Error).message })
    } finally {
      setBusy(false)
    }
  }

  const del = async () => {
    if (name === null) return
    setBusy(true)
    setConfirmDelete(false)
    try {
      const a = await call<{ version: number }>(`/admin/${kind}/${encodeURIComponent(name)}`, { method: 'DELETE', ifMatch: etag })
      if (a.status === 412) return setOutcome({ type: 'conflict', message: a.body.message ?? 'precondition failed' })
      if (a.status === 422) return setOutcome({ type: 'invalid', body: a.body as ApiError })
      if (!a.ok) return setOutcome({ type: 'failed', message: explain(a) })
      setOutcome({ type: 'deleted', version: a.body.version })
    } finally {
      setBusy(false)
    }
  }

  return (
    <>
      <p>
        <a href={href(kind)}>← {kind === 'plugins' ? 'Global plugins' : kind[0]!.toUpperCase() + kind.slice(1)}</a>
      </p>
      <h1>{name === null ? `New ${noun}` : `Edit ${noun} ${name}`}</h1>
      {!canWrite && (
        <p class="panel warn" role="note">
          Your role may read the configuration but not change it.
        </p>
      )}
      {loadError !== null && (
        <p role="alert" class="error">
          {loadError}
        </p>
      )}
      {hasForm && (
        <fieldset class="format">
          <legend>View</legend>
          {(['form', 'text'] as const).map((w) => (
            <label key={w}>
              <input type="radio" name="view" value={w} checked={view === w} disabled={w === 'form' && formValue === null} aria-describedby={formValue === null ? 'form-unavailable' : undefined} onChange={() => setView(w)} /> {w === 'form' ? 'Form' : 'Text'}
            </label>
          ))}
          {formValue === null && (
            <span id="form-unavailable" class="muted">
              The form needs text that parses to a mapping.
            </span>
          )}
        </fieldset>
      )}
      <fieldset class="format">
        <legend>Format</legend>
        {(['yaml', 'json'] as const).map((f) => (
          <label key={f}>
            <input type="radio" name="format" value={f} checked={format === f} onChange={() => switchFormat(f)} /> {f.toUpperCase()}
          </label>
        ))}
      </fieldset>
      {hasForm && view === 'form' && formValue !== null ? (
        kind === 'routes' ? (
          <RouteForm value={formValue} onChange={fromForm} problems={formProblems} show={(x) => show(x, format)} format={format} upstreams={upstreamNames} installed={installed} />
        ) : kind === 'upstreams' ? (
          <UpstreamForm value={formValue} onChange={fromForm} problems={formProblems} show={(x) => show(x, format)} format={format} />
        ) : kind === 'consumers' ? (
          <ConsumerForm value={formValue} onChange={fromForm} problems={formProblems} show={(x) => show(x, format)} format={format} installed={installed} />
        ) : (
          <GlobalPluginForm value={formValue} onChange={fromForm} problems={formProblems} show={(x) => show(x, format)} format={format} installed={installed} />
        )
      ) : (
        <>
          <label for="resource-text">
            {noun} as {format.toUpperCase()}
            {etag !== null && <span class="muted"> (ETag {etag})</span>}
          </label>
          <textarea
            id="resource-text"
            spellcheck={false}
            rows={Math.min(30, Math.max(10, text.split('\n').length + 2))}
            value={text}
            readOnly={!canWrite}
            aria-describedby="live-problems"
            aria-invalid={!parsed.ok || problems.length > 0}
            onInput={(e) => {
              setText((e.target as HTMLTextAreaElement).value)
              setOutcome(null)
            }}
          />
          <div id="live-problems" aria-live="polite" data-testid="live-problems">
            {!parsed.ok ? (
              <p class="error">{parsed.message}</p>
            ) : problems.length > 0 ? (
              <ul class="errors">
                {problems.map((p, i) => (
                  <li key={i}>
                    <code>{p.path}</code>: {p.message}
                    {p.hint !== undefined && <span class="hint"> — {p.hint}</span>}
                  </li>
                ))}
              </ul>
            ) : (
              <p class="good-text">Matches the schema and the plugins' config schemas. The dry run also checks references, paths and each plugin's own checks.</p>
            )}
          </div>
        </>
      )}
      {hasForm && view === 'form' && formValue !== null && (
        <p id="form-status" aria-live="polite" data-testid="form-status" class={problems.length > 0 ? 'error' : 'good-text'}>
          {problems.length > 0
            ? `${problems.length} problem${problems.length === 1 ? '' : 's'} with the schema, shown by the fields: fix ${problems.length === 1 ? 'it' : 'them'} before Apply.`
            : "Matches the schema and the plugins' config schemas. The dry run also checks references, paths and each plugin's own checks."}
        </p>
      )}
      {canWrite && (
        <div class="actions">
          <button type="button" disabled={busy || !parsed.ok} onClick={() => void write(true)}>
            Dry run
          </button>
          <button
            type="button"
            class="primary"
            disabled={busy || !parsed.ok || formBlocks}
            aria-describedby={formBlocks ? 'form-status' : undefined}
            onClick={() => void write(false)}
          >
            Apply
          </button>
          {name !== null &&
            (confirmDelete ? (
              <button type="button" class="danger" onClick={() => void del()}>
                Confirm: delete {name}
              </button>
            ) : (
              <button type="button" class="danger" disabled={busy} onClick={() => setConfirmDelete(true)}>
                Delete…
              </button>
            ))}
        </div>
      )}
      <div aria-live="polite" data-testid="outcome">
        {outcome?.type === 'preview' && (
          <div class="panel">
            <p>
              <strong>Dry run: valid.</strong> {outcome.changes.length === 0 ? 'Nothing would change.' : outcome.changes.map((c) => `${c.op} ${c.kind} ${c.name}`).join(', ')}
            </p>
            <pre class="diff" aria-label="Changes">
              {outcome.diff.map((l, i) => (
                <span key={i} class={l.op === '+' ? 'add' : l.op === '-' ? 'del' : ''}>
                  {l.op} {l.text}
                  {'\n'}
                </span>
              ))}
            </pre>
          </div>
        )}
        {outcome?.type === 'applied' && (
          <p role="status" class="panel good">
            Applied: config version {outcome.version} serves it ({outcome.changes.map((c) => `${c.op} ${c.kind} ${c.name}`).join(', ') || 'no change'}).
            {outcome.warnings.map((w) => (
              <span key={w}> Warning: {w}</span>
            ))}
          </p>
        )}
        {outcome?.type === 'deleted' && (
          <p role="status" class="panel good">
            Deleted: config version {outcome.version} serves without it. <a href={href(kind)}>Back to the list</a>
          </p>
        )}
        {outcome?.type === 'invalid' && <ServerErrors body={outcome.body} />}
        {outcome?.type === 'conflict' && (
          <div role="alert" class="panel bad" data-testid="conflict">
            <p>
              <strong>Conflict: someone else changed this {noun} since you opened it.</strong> Nothing was applied (412 precondition_failed).
            </p>
            <p>{outcome.message}</p>
            <button type="button" onClick={() => void load()}>
              Load the current version (discards your edit)
            </button>
          </div>
        )}
        {outcome?.type === 'failed' && (
          <p role="alert" class="panel bad">
            {outcome.message}
          </p>
        )}
      </div>
    </>
  )
}

// Form views of a route and an upstream for the editor (./editor.tsx). A form is another view of
// the same object the text view shows: it reads `value`, and each edit hands the whole object back
// with only the edited key changed, so keys the form has no field for are kept as they were. The
// editor validates that object (ui/src/validate.ts) and passes the problems in; each is shown by the
// field its path points at, and the rest above the form.
import { useState } from 'preact/hooks'
import { parse } from 'yaml'
import * as v from 'virtual:validators'
import type { Problem } from '../validate'

type Obj = Record<string, unknown>
export type FormProblem = Problem & { full: string }
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)

export interface FormProps {
  value: Obj
  onChange: (next: Obj) => void
  /** Problems with paths relative to the resource ("paths[0]", "targets[1].url"); `full` is the document path. */
  problems: FormProblem[]
  /** How the text view shows a value (YAML or JSON), for plugin configs. */
  show: (v: unknown) => string
  format: 'yaml' | 'json'
}

/** Sets `key` on a copy of `obj`, or drops it when `val` is undefined. */
function withKey(obj: Obj, key: string, val: unknown): Obj {
  const next = { ...obj }
  if (val === undefined) delete next[key]
  else next[key] = val
  return next
}

const matches = (rel: string, key: string) => rel === key || rel.startsWith(`${key}[`) || rel.startsWith(`${key}.`)

/** Each problem goes to the longest field key its path starts with; the others are general. */
export function assign(problems: FormProblem[], keys: string[]): { byField: Map<string, FormProblem[]>; general: FormProblem[] } {
  const byField = new Map<string, FormProblem[]>()
  const general: FormProblem[] = []
  for (const p of problems) {
    const key = keys.filter((k) => matches(p.path, k)).sort((a, b) => b.length - a.length)[0]
    if (key === undefined) general.push(p)
    else byField.set(key, [...(byField.get(key) ?? []), p])
  }
  return { byField, general }
}

const fid = (key: string) => `field-${key.replace(/[^A-Za-z0-9_-]/g, '_')}`

/** The problems of one field, next to it: the input points here with aria-describedby. */
function FieldErrors({ field, problems }: { field: string; problems: FormProblem[] | undefined }) {
  return (
    <div id={`${fid(field)}-err`} class="field-error" aria-live="polite" data-testid="field-error" data-field={field}>
      {(problems ?? []).map((p, i) => (
        <p key={i} class="error">
          <code>{p.full}</code>: {p.message}
          {p.hint !== undefined && <span class="hint"> — {p.hint}</span>}
        </p>
      ))}
    </div>
  )
}

function aria(field: string, byField: Map<string, FormProblem[]>, help?: string) {
  return {
    id: fid(field),
    'aria-describedby': [help, `${fid(field)}-err`].filter((x) => x !== undefined).join(' '),
    'aria-invalid': (byField.get(field)?.length ?? 0) > 0,
  }
}

/** A list of strings as a text area, one per line; empty → the key is dropped. */
function lines(text: string): string[] | undefined {
  return text === '' ? undefined : text.split('\n')
}

/** A number input's value: empty → dropped, else a number (the validator says if it must be an integer). */
function num(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text)
}

/** A duration field: "2s", or digits as integer milliseconds. */
function duration(text: string): string | number | undefined {
  const t = text.trim()
  return t === '' ? undefined : /^\d+$/.test(t) ? Number(t) : t
}

export function GeneralErrors({ problems }: { problems: FormProblem[] }) {
  return (
    <div aria-live="polite" data-testid="form-problems">
      {problems.length > 0 && (
        <ul class="errors error">
          {problems.map((p, i) => (
            <li key={i}>
              <code>{p.full}</code>: {p.message}
              {p.hint !== undefined && <span class="hint"> — {p.hint}</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/** One plugin of the route: its config as YAML/JSON, parsed as you type. */
function PluginRow({ i, plugin, byField, onChange, onRemove, show }: { i: number; plugin: Obj; byField: Map<string, FormProblem[]>; onChange: (p: Obj) => void; onRemove: () => void; show: (v: unknown) => string }) {
  const name = typeof plugin.name === 'string' ? plugin.name : ''
  const initial = plugin.config === undefined ? '' : typeof plugin.config === 'string' ? plugin.config : show(plugin.config)
  const [raw, setRaw] = useState(initial)
  const [syntax, setSyntax] = useState<string | null>(null)
  const key = `plugins[${i}].config`
  const input = (text: string) => {
    setRaw(text)
    if (text.trim() === '') {
      setSyntax(null)
      return onChange(withKey(plugin, 'config', undefined))
    }
    try {
      const value: unknown = parse(text)
      setSyntax(null)
      onChange(withKey(plugin, 'config', value))
    } catch (e) {
      // Kept as the text it is: the validator then says the config must be a mapping, and the
      // text view shows what was typed.
      setSyntax(`YAML/JSON: ${(e as Error).message.split('\n')[0]}`)
      onChange(withKey(plugin, 'config', text))
    }
  }
  return (
    <li class="plugin-row" data-plugin={name}>
      <div class="row-head">
        <strong>{name}</strong>
        <button type="button" class="link" onClick={onRemove} aria-label={`Remove plugin ${name}`}>
          Remove
        </button>
      </div>
      <FieldErrors field={`plugins[${i}]`} problems={byField.get(`plugins[${i}]`)} />
      <label for={fid(key)}>{name} config</label>
      <textarea class="small" spellcheck={false} rows={Math.max(3, raw.split('\n').length + 1)} value={raw} {...aria(key, byField)} aria-invalid={syntax !== null || (byField.get(key)?.length ?? 0) > 0} onInput={(e) => input((e.target as HTMLTextAreaElement).value)} />
      <div aria-live="polite">{syntax !== null && <p class="error">{syntax}</p>}</div>
      <FieldErrors field={key} problems={byField.get(key)} />
    </li>
  )
}

export function RouteForm({ value, onChange, problems, show, format, upstreams }: FormProps & { upstreams: string[] }) {
  const plugins = Array.isArray(value.plugins) ? (value.plugins as unknown[]) : []
  const keys = ['name', 'hosts', 'paths', 'methods', 'upstream', 'strip_prefix', 'priority', 'plugins', ...plugins.flatMap((_, i) => [`plugins[${i}]`, `plugins[${i}].config`])]
  const { byField, general } = assign(problems, keys)
  const [adding, setAdding] = useState('')
  const set = (key: string, val: unknown) => onChange(withKey(value, key, val))
  const str = (key: string) => (typeof value[key] === 'string' ? (value[key] as string) : value[key] === undefined ? '' : String(value[key]))
  const list = (key: string) => (Array.isArray(value[key]) ? (value[key] as unknown[]).map(String).join('\n') : '')
  const methods = Array.isArray(value.methods) ? (value.methods as unknown[]).map(String) : []
  const known = [...new Set([...upstreams, ...(typeof value.upstream === 'string' && value.upstream !== '' ? [value.upstream] : [])])].sort()
  const setPlugins = (next: unknown[]) => set('plugins', next.length === 0 ? undefined : next)
  const add = () => {
    const n = adding.trim()
    if (n === '') return
    setPlugins([...plugins, { name: n }])
    setAdding('')
  }
  return (
    <div class="resource-form" data-testid="route-form">
      <GeneralErrors problems={general} />
      <div class="form-grid">
        <div>
          <label for={fid('name')}>Name</label>
          <input type="text" value={str('name')} {...aria('name', byField)} onInput={(e) => set('name', (e.target as HTMLInputElement).value)} />
          <FieldErrors field="name" problems={byField.get('name')} />
        </div>
        <div>
          <label for={fid('upstream')}>Upstream</label>
          <select value={str('upstream')} {...aria('upstream', byField)} onChange={(e) => set('upstream', (e.target as HTMLSelectElement).value || undefined)}>
            <option value="">{Array.isArray(value.upstreams) ? '(traffic split: edit it in the text view)' : '(none)'}</option>
            {known.map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
          <FieldErrors field="upstream" problems={byField.get('upstream')} />
        </div>
        <div>
          <label for={fid('hosts')}>Hosts (one per line; empty = any host)</label>
          <textarea class="small" rows={3} spellcheck={false} value={list('hosts')} {...aria('hosts', byField)} onInput={(e) => set('hosts', lines((e.target as HTMLTextAreaElement).value))} />
          <FieldErrors field="hosts" problems={byField.get('hosts')} />
        </div>
        <div>
          <label for={fid('paths')}>Paths (one per line)</label>
          <textarea class="small" rows={3} spellcheck={false} value={list('paths')} {...aria('paths', byField)} onInput={(e) => set('paths', lines((e.target as HTMLTextAreaElement).value))} />
          <FieldErrors field="paths" problems={byField.get('paths')} />
        </div>
        <div>
          <label for={fid('strip_prefix')}>Strip prefix</label>
          <input type="text" value={str('strip_prefix')} {...aria('strip_prefix', byField)} onInput={(e) => set('strip_prefix', (e.target as HTMLInputElement).value || undefined)} />
          <FieldErrors field="strip_prefix" problems={byField.get('strip_prefix')} />
        </div>
        <div>
          <label for={fid('priority')}>Priority</label>
          <input type="number" step={1} value={str('priority')} {...aria('priority', byField)} onInput={(e) => set('priority', num((e.target as HTMLInputElement).value))} />
          <FieldErrors field="priority" problems={byField.get('priority')} />
        </div>
      </div>
      <fieldset class="checks" aria-describedby={`${fid('methods')}-err`}>
        <legend>Methods (none checked = any method)</legend>
        {METHODS.map((m) => (
          <label key={m}>
            <input
              type="checkbox"
              checked={methods.includes(m)}
              onChange={(e) => {
                const on = (e.target as HTMLInputElement).checked
                const next = on ? [...methods, m] : methods.filter((x) => x !== m)
                set('methods', next.length === 0 ? undefined : next)
              }}
            />{' '}
            {m}
          </label>
        ))}
      </fieldset>
      <FieldErrors field="methods" problems={byField.get('methods')} />
      <fieldset class="plugins-edit">
        <legend>Plugins</legend>
        <FieldErrors field="plugins" problems={byField.get('plugins')} />
        {plugins.length === 0 && <p class="muted">No plugins on this route (the global ones still apply).</p>}
        <ul class="rows">
          {plugins.map((p, i) => (
            <PluginRow
              key={`${i}-${String((p as Obj | null)?.name)}-${format}`}
              i={i}
              plugin={isObj(p) ? p : {}}
              byField={byField}
              show={show}
              onChange={(np) => setPlugins(plugins.map((x, j) => (j === i ? np : x)))}
              onRemove={() => setPlugins(plugins.filter((_, j) => j !== i))}
            />
          ))}
        </ul>
        <div class="add-row">
          <div>
            <label for="add-plugin">Plugin to add</label>
            <input
              id="add-plugin"
              type="text"
              list="installed-plugins"
              value={adding}
              aria-describedby="add-plugin-help"
              onInput={(e) => setAdding((e.target as HTMLInputElement).value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  e.preventDefault()
                  add()
                }
              }}
            />
            <datalist id="installed-plugins">
              {v.pluginNames.map((n) => (
                <option key={n} value={n} />
              ))}
            </datalist>
            <p id="add-plugin-help" class="muted">
              Built-in: {v.pluginNames.join(', ')}. A user plugin (PORTICO_PLUGINS) by its name; the dry run checks it is installed.
            </p>
          </div>
          <button type="button" onClick={add} disabled={adding.trim() === ''}>
            Add plugin
          </button>
        </div>
      </fieldset>
    </div>
  )
}

const BALANCERS: string[] = (() => {
  const b = (v.schemas.upstreams.properties as Obj | undefined)?.balancer
  const any = isObj(b) && Array.isArray(b.anyOf) ? (b.anyOf as unknown[]) : []
  return any.flatMap((x) => (isObj(x) && typeof x.const === 'string' ? [x.const] : []))
})()

export function UpstreamForm({ value, onChange, problems }: FormProps) {
  const targets = Array.isArray(value.targets) ? (value.targets as unknown[]) : []
  const timeouts = isObj(value.timeouts) ? value.timeouts : {}
  const keys = ['name', 'targets', 'balancer', 'timeouts', ...['connect', 'read', 'total'].map((k) => `timeouts.${k}`), ...targets.flatMap((_, i) => [`targets[${i}]`, `targets[${i}].url`, `targets[${i}].weight`])]
  const { byField, general } = assign(problems, keys)
  const set = (key: string, val: unknown) => onChange(withKey(value, key, val))
  const setTarget = (i: number, key: string, val: unknown) => set('targets', targets.map((t, j) => (j === i ? withKey(isObj(t) ? t : {}, key, val) : t)))
  const setTimeoutField = (key: string, val: unknown) => {
    const next = withKey(timeouts, key, val)
    set('timeouts', Object.keys(next).length === 0 ? undefined : next)
  }
  const text = (x: unknown) => (x === undefined ? '' : String(x))
  return (
    <div class="resource-form" data-testid="upstream-form">
      <GeneralErrors problems={general} />
      <div class="form-grid">
        <div>
          <label for={fid('name')}>Name</label>
          <input type="text" value={text(value.name)} {...aria('name', byField)} onInput={(e) => set('name', (e.target as HTMLInputElement).value)} />
          <FieldErrors field="name" problems={byField.get('name')} />
        </div>
        <div>
          <label for={fid('balancer')}>Balancer</label>
          <select value={text(value.balancer)} {...aria('balancer', byField)} onChange={(e) => set('balancer', (e.target as HTMLSelectElement).value || undefined)}>
            <option value="">(default: round-robin)</option>
            {BALANCERS.map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
          <FieldErrors field="balancer" problems={byField.get('balancer')} />
        </div>
      </div>
      <fieldset class="targets-edit">
        <legend>Targets</legend>
        {value.discovery !== undefined && <p class="muted">This upstream discovers its targets (discovery): edit that in the text view.</p>}
        <FieldErrors field="targets" problems={byField.get('targets')} />
        <ul class="rows">
          {targets.map((t, i) => {
            const tt = isObj(t) ? t : {}
            return (
              <li key={i} class="target-row" data-target-row={i}>
                <div>
                  <label for={fid(`targets[${i}].url`)}>Target {i + 1} URL</label>
                  <input type="url" value={text(tt.url)} {...aria(`targets[${i}].url`, byField)} onInput={(e) => setTarget(i, 'url', (e.target as HTMLInputElement).value)} />
                  <FieldErrors field={`targets[${i}].url`} problems={byField.get(`targets[${i}].url`)} />
                </div>
                <div class="weight">
                  <label for={fid(`targets[${i}].weight`)}>Target {i + 1} weight</label>
                  <input type="number" min={0} max={10000} step={1} placeholder="1" value={text(tt.weight)} {...aria(`targets[${i}].weight`, byField)} onInput={(e) => setTarget(i, 'weight', num((e.target as HTMLInputElement).value))} />
                  <FieldErrors field={`targets[${i}].weight`} problems={byField.get(`targets[${i}].weight`)} />
                </div>
                <button type="button" class="link" aria-label={`Remove target ${i + 1}`} onClick={() => set('targets', targets.length === 1 ? undefined : targets.filter((_, j) => j !== i))}>
                  Remove
                </button>
                <FieldErrors field={`targets[${i}]`} problems={byField.get(`targets[${i}]`)} />
              </li>
            )
          })}
        </ul>
        <button type="button" onClick={() => set('targets', [...targets, { url: 'http://' }])}>
          Add target
        </button>
      </fieldset>
      <fieldset class="timeouts-edit">
        <legend>Timeouts ("250ms", "2s", "5m" or integer milliseconds; empty = the default)</legend>
        <div class="form-grid">
          {(['connect', 'read', 'total'] as const).map((k) => (
            <div key={k}>
              <label for={fid(`timeouts.${k}`)}>Timeout: {k}</label>
              <input type="text" value={text(timeouts[k])} {...aria(`timeouts.${k}`, byField)} onInput={(e) => setTimeoutField(k, duration((e.target as HTMLInputElement).value))} />
              <FieldErrors field={`timeouts.${k}`} problems={byField.get(`timeouts.${k}`)} />
            </div>
          ))}
        </div>
        <FieldErrors field="timeouts" problems={byField.get('timeouts')} />
      </fieldset>
    </div>
  )
}

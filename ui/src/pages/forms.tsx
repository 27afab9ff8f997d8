// Form views of a route and an upstream for the editor (./editor.tsx). A form is another view of
// the same object the text view shows: it reads `value`, and each edit hands the whole object back
// with only the edited key changed, so keys the form has no field for are kept as they were. The
// editor validates that object (ui/src/validate.ts) and passes the problems in; each is shown by the
// field its path points at, and the rest above the form.
import * as v from 'virtual:validators'
import { FieldErrors, GeneralErrors, aria, assign, duration, fid, isObj, lines, num, withKey, type FormProps, type Obj } from './form-fields'
import { PluginList, pluginListKeys, type InstalledPlugin } from './plugin-list'

export { assign, type FormProblem, type FormProps } from './form-fields'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

export function RouteForm({ value, onChange, problems, show, format, upstreams, installed }: FormProps & { upstreams: string[]; installed: InstalledPlugin[] }) {
  const plugins = Array.isArray(value.plugins) ? (value.plugins as unknown[]) : []
  const keys = ['name', 'hosts', 'paths', 'methods', 'upstream', 'strip_prefix', 'priority', ...pluginListKeys('plugins', plugins)]
  const { byField, general } = assign(problems, keys)
  const set = (key: string, val: unknown) => onChange(withKey(value, key, val))
  const str = (key: string) => (typeof value[key] === 'string' ? (value[key] as string) : value[key] === undefined ? '' : String(value[key]))
  const list = (key: string) => (Array.isArray(value[key]) ? (value[key] as unknown[]).map(String).join('\n') : '')
  const methods = Array.isArray(value.methods) ? (value.methods as unknown[]).map(String) : []
  const known = [...new Set([...upstreams, ...(typeof value.upstream === 'string' && value.upstream !== '' ? [value.upstream] : [])])].sort()
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
      <PluginList listKey="plugins" plugins={plugins} byField={byField} show={show} format={format} installed={installed} empty="No plugins on this route (the global ones still apply)." onChange={(next) => set('plugins', next)} />
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

// The plugin editor every form shares: a route's, a consumer's and a global plugin's uses are the
// same object ({name, enabled, priority, config}), edited by the same fields, and added through the
// same picker, which suggests every plugin this gateway has installed (GET
// /admin/installed-plugins: the built-ins and the user plugins of PORTICO_PLUGINS).
import { useState } from 'preact/hooks'
import { parse } from 'yaml'
import * as v from 'virtual:validators'
import { FieldErrors, assign, aria, fid, isObj, num, withKey, type FormProblem, type Obj } from './form-fields'
import { ObjectFields, formable, schemaFieldKeys } from './schema-form'

export interface InstalledPlugin {
  name: string
  origin: 'builtin' | 'user'
  /** The JSON Schema of the plugin's config (from the gateway; the form view of a config needs it). */
  schema?: unknown
}

/** The built-ins compiled into the console: the picker's list when the gateway's cannot be read. */
export const BUILTIN_ONLY: InstalledPlugin[] = v.pluginNames.map((name) => ({ name, origin: 'builtin' }))

/** `prefix.key` or just `key` for a use at the resource's top (a global plugin). */
const at = (prefix: string, key: string) => (prefix === '' ? key : `${prefix}.${key}`)

/** The field keys of one use (for assign()), so each problem lands by its field. */
export function pluginFieldKeys(prefix: string): string[] {
  return [...(prefix === '' ? [] : [prefix]), ...['config', 'enabled', 'priority'].map((k) => at(prefix, k))]
}

/** The field keys of a list of uses under `listKey` ("plugins"). */
export function pluginListKeys(listKey: string, plugins: unknown[]): string[] {
  return [listKey, ...plugins.flatMap((_, i) => pluginFieldKeys(`${listKey}[${i}]`))]
}

/**
 * The config of one use, as a form generated from the plugin's schema or as YAML/JSON text parsed
 * as you type (a toggle per plugin; both edit the same value), with enabled and priority beside it.
 * Without a schema, or with one the form cannot show (./schema-form.tsx), the text is the only view.
 */
export function PluginFields({ prefix, plugin, byField, onChange, show, format, schema }: { prefix: string; plugin: Obj; byField: Map<string, FormProblem[]>; onChange: (p: Obj) => void; show: (v: unknown) => string; format: 'yaml' | 'json'; schema?: unknown }) {
  const name = typeof plugin.name === 'string' ? plugin.name : ''
  const asText = (config: unknown) => (config === undefined ? '' : typeof config === 'string' ? config : show(config))
  const [raw, setRaw] = useState(() => asText(plugin.config))
  const [syntax, setSyntax] = useState<string | null>(null)
  const canForm = syntax === null && formable(schema, plugin.config)
  // Until a toggle or a keystroke in the text chooses, the form when it can (the schema may come
  // from the gateway after the row first shows).
  const [chosen, setChosen] = useState<'form' | 'text' | null>(null)
  const mode = chosen ?? (canForm ? 'form' : 'text')
  const configKey = at(prefix, 'config')
  const enabledKey = at(prefix, 'enabled')
  const priorityKey = at(prefix, 'priority')
  const modeName = `${fid(configKey)}-mode`
  const input = (text: string) => {
    setChosen('text')
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
  const switchTo = (m: 'form' | 'text') => {
    // The text starts again from the value the form edited.
    if (m === 'text') setRaw(asText(plugin.config))
    setChosen(m)
  }
  const inForm = mode === 'form' && canForm
  // In the form, each problem of the config goes to its field; the rest stay by the config.
  const { byField: inner, general } = inForm ? assign(byField.get(configKey) ?? [], schemaFieldKeys(schema, plugin.config, configKey)) : { byField, general: byField.get(configKey) ?? [] }
  return (
    <>
      <div class="form-grid">
        <div>
          <label class="inline">
            {/* Absent means enabled (the schema's default): unchecking writes enabled: false, checking drops the key. */}
            <input type="checkbox" checked={plugin.enabled !== false} {...aria(enabledKey, byField)} onChange={(e) => onChange(withKey(plugin, 'enabled', (e.target as HTMLInputElement).checked ? undefined : false))} /> {name} enabled
          </label>
          <FieldErrors field={enabledKey} problems={byField.get(enabledKey)} />
        </div>
        <div>
          <label for={fid(priorityKey)}>{name} priority (empty = the plugin's default; higher runs first in its phase)</label>
          <input type="number" step={1} value={plugin.priority === undefined ? '' : String(plugin.priority)} {...aria(priorityKey, byField)} onInput={(e) => onChange(withKey(plugin, 'priority', num((e.target as HTMLInputElement).value)))} />
          <FieldErrors field={priorityKey} problems={byField.get(priorityKey)} />
        </div>
      </div>
      <fieldset class="format config-mode">
        <legend>{name} config as</legend>
        {(['form', 'text'] as const).map((m) => (
          <label key={m}>
            <input type="radio" name={modeName} value={m} checked={(m === 'form') === inForm} disabled={m === 'form' && !canForm} aria-describedby={m === 'form' && !canForm ? `${modeName}-why` : undefined} onChange={() => switchTo(m)} /> <span class="sr-only">{name} config as </span>
            {m === 'form' ? 'form' : format.toUpperCase()}
          </label>
        ))}
        {!canForm && (
          <span id={`${modeName}-why`} class="muted">
            {schema === undefined
              ? 'No schema for this plugin from the gateway: edit its config as text.'
              : syntax !== null
                ? 'The form needs text that parses.'
                : "Parts of this plugin's config (unions, free-form mappings) have no form fields: edit it as text."}
          </span>
        )}
      </fieldset>
      {inForm ? (
        <ObjectFields schema={schema as Obj} value={plugin.config} onChange={(c) => onChange(withKey(plugin, 'config', c))} field={configKey} name={`${name} config`} context="" required={false} byField={inner} />
      ) : (
        <>
          <label for={fid(configKey)}>{name} config</label>
          <textarea class="small" spellcheck={false} rows={Math.max(3, raw.split('\n').length + 1)} value={raw} {...aria(configKey, byField)} aria-invalid={syntax !== null || (byField.get(configKey)?.length ?? 0) > 0} onInput={(e) => input((e.target as HTMLTextAreaElement).value)} />
          <div aria-live="polite">{syntax !== null && <p class="error">{syntax}</p>}</div>
        </>
      )}
      <FieldErrors field={configKey} problems={general} />
    </>
  )
}

/** A text input with the installed plugins as suggestions, and the list of them spelled out. */
export function PluginPicker({ id, label, value, onInput, onEnter, installed }: { id: string; label: string; value: string; onInput: (s: string) => void; onEnter?: () => void; installed: InstalledPlugin[] }) {
  const builtin = installed.filter((p) => p.origin === 'builtin').map((p) => p.name)
  const user = installed.filter((p) => p.origin === 'user').map((p) => p.name)
  return (
    <div>
      <label for={id}>{label}</label>
      <input
        id={id}
        type="text"
        list={`${id}-installed`}
        value={value}
        aria-describedby={`${id}-help`}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && onEnter !== undefined) {
            e.preventDefault()
            onEnter()
          }
        }}
      />
      <datalist id={`${id}-installed`} data-testid="installed-plugins">
        {installed.map((p) => (
          <option key={p.name} value={p.name} label={p.origin === 'user' ? `${p.name} (user plugin)` : p.name} />
        ))}
      </datalist>
      <p id={`${id}-help`} class="muted">
        Built-in: {builtin.join(', ')}. {user.length > 0 ? `User plugins (PORTICO_PLUGINS): ${user.join(', ')}.` : 'No user plugins installed (PORTICO_PLUGINS).'}
      </p>
    </div>
  )
}

/** A list of plugin uses (a route's or a consumer's): add by name, edit, enable/disable, move, remove. */
export function PluginList({ listKey, plugins, byField, onChange, show, format, installed, empty }: { listKey: string; plugins: unknown[]; byField: Map<string, FormProblem[]>; onChange: (next: unknown[] | undefined) => void; show: (v: unknown) => string; format: 'yaml' | 'json'; installed: InstalledPlugin[]; empty: string }) {
  const [adding, setAdding] = useState('')
  const set = (next: unknown[]) => onChange(next.length === 0 ? undefined : next)
  const add = () => {
    const n = adding.trim()
    if (n === '') return
    set([...plugins, { name: n }])
    setAdding('')
  }
  const move = (i: number, by: -1 | 1) => {
    const next = [...plugins]
    const [item] = next.splice(i, 1)
    next.splice(i + by, 0, item)
    set(next)
  }
  return (
    <fieldset class="plugins-edit">
      <legend>Plugins</legend>
      <FieldErrors field={listKey} problems={byField.get(listKey)} />
      {plugins.length === 0 && <p class="muted">{empty}</p>}
      <ul class="rows">
        {plugins.map((p, i) => {
          const plugin = isObj(p) ? p : {}
          const name = typeof plugin.name === 'string' ? plugin.name : ''
          const prefix = `${listKey}[${i}]`
          return (
            // Keyed by position, name and format: a config text area starts again from the value
            // when the list moves under it or the text view switches format.
            <li key={`${i}-${name}-${format}`} class="plugin-row" data-plugin={name}>
              <div class="row-head">
                <strong>{name}</strong>
                <span>
                  <button type="button" class="link" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`Move plugin ${name} up`}>
                    Up
                  </button>{' '}
                  <button type="button" class="link" disabled={i === plugins.length - 1} onClick={() => move(i, 1)} aria-label={`Move plugin ${name} down`}>
                    Down
                  </button>{' '}
                  <button type="button" class="link" onClick={() => set(plugins.filter((_, j) => j !== i))} aria-label={`Remove plugin ${name}`}>
                    Remove
                  </button>
                </span>
              </div>
              <FieldErrors field={prefix} problems={byField.get(prefix)} />
              <PluginFields prefix={prefix} plugin={plugin} byField={byField} show={show} format={format} schema={installed.find((x) => x.name === name)?.schema} onChange={(np) => set(plugins.map((x, j) => (j === i ? np : x)))} />
            </li>
          )
        })}
      </ul>
      {plugins.length > 1 && <p class="muted">The list's order is kept as written; a worker runs plugins by phase, then priority (the route page shows the compiled order).</p>}
      <div class="add-row">
        <PluginPicker id="add-plugin" label="Plugin to add" value={adding} onInput={setAdding} onEnter={add} installed={installed} />
        <button type="button" onClick={add} disabled={adding.trim() === ''}>
          Add plugin
        </button>
      </div>
    </fieldset>
  )
}

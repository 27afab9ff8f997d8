// The form views of a consumer and of one global plugin, next to the route and upstream forms
// (./forms.tsx) and like them another view of the object the text view shows.
//
// Secrets: the admin API reads every key_auth key and hmac secret as "[REDACTED]" and, on a
// write, puts the stored value back where the placeholder is still in place (docs/admin-api.md,
// "Secrets"). So the form never holds a stored secret: it shows "stored" for a placeholder, leaves
// the placeholder in the object to keep the value, and offers a password field to replace it.
// The API pairs a key_auth key with the stored one at the same position (keys have no name),
// so a key may only be removed when no stored key comes after it; hmac credentials pair by
// key_id, and may be removed anywhere.
import { useState } from 'preact/hooks'
import { FieldErrors, GeneralErrors, aria, assign, fid, isObj, lines, withKey, type FormProblem, type FormProps, type Obj } from './form-fields'
import { keyRemovable, secretState } from '../secrets'
import { PluginFields, PluginList, PluginPicker, pluginFieldKeys, pluginListKeys, type InstalledPlugin } from './plugin-list'

/** One write-only value: "stored" with Replace, or a password field (a ${reference} as text). */
function SecretField({ field, label, value, byField, onChange }: { field: string; label: string; value: unknown; byField: Map<string, FormProblem[]>; onChange: (v: string) => void }) {
  const state = secretState(value)
  if (state === 'stored') {
    return (
      <div>
        <span class="label">{label}</span>
        <p class="secret-stored" data-testid="secret-stored">
          <span class="badge muted">stored, hidden</span>{' '}
          <button type="button" class="link" aria-label={`Replace ${label}`} onClick={() => onChange('')}>
            Replace
          </button>
        </p>
        <FieldErrors field={field} problems={byField.get(field)} />
      </div>
    )
  }
  return (
    <div>
      <label for={fid(field)}>{label}</label>
      {/* A ${reference} holds no secret and is shown as text; anything else typed is masked. */}
      {state === 'reference' ? (
        <input type="text" spellcheck={false} value={value as string} {...aria(field, byField, 'secret-help')} onInput={(e) => onChange((e.target as HTMLInputElement).value)} />
      ) : (
        <input type="password" autocomplete="new-password" spellcheck={false} value={typeof value === 'string' ? value : ''} {...aria(field, byField, 'secret-help')} onInput={(e) => onChange((e.target as HTMLInputElement).value)} />
      )}
      <FieldErrors field={field} problems={byField.get(field)} />
    </div>
  )
}

export function ConsumerForm({ value, onChange, problems, show, format, installed }: FormProps & { installed: InstalledPlugin[] }) {
  const creds = isObj(value.credentials) ? value.credentials : {}
  const keys = Array.isArray(creds.key_auth) ? (creds.key_auth as unknown[]) : []
  const hmac = Array.isArray(creds.hmac_auth) ? (creds.hmac_auth as unknown[]) : []
  const plugins = Array.isArray(value.plugins) ? (value.plugins as unknown[]) : []
  const fieldKeys = [
    'name',
    'roles',
    'credentials',
    'credentials.key_auth',
    ...keys.map((_, i) => `credentials.key_auth[${i}]`),
    'credentials.hmac_auth',
    ...hmac.flatMap((_, i) => [`credentials.hmac_auth[${i}]`, `credentials.hmac_auth[${i}].key_id`, `credentials.hmac_auth[${i}].secret`]),
    ...pluginListKeys('plugins', plugins),
  ]
  const { byField, general } = assign(problems, fieldKeys)
  const set = (key: string, val: unknown) => onChange(withKey(value, key, val))
  const setCred = (key: string, list: unknown[]) => {
    const next = withKey(creds, key, list.length === 0 ? undefined : list)
    set('credentials', Object.keys(next).length === 0 ? undefined : next)
  }
  const setHmac = (i: number, key: string, val: unknown) => setCred('hmac_auth', hmac.map((h, j) => (j === i ? withKey(isObj(h) ? h : {}, key, val) : h)))
  return (
    <div class="resource-form" data-testid="consumer-form">
      <GeneralErrors problems={general} />
      <div class="form-grid">
        <div>
          <label for={fid('name')}>Name</label>
          <input type="text" value={typeof value.name === 'string' ? value.name : ''} {...aria('name', byField)} onInput={(e) => set('name', (e.target as HTMLInputElement).value)} />
          <FieldErrors field="name" problems={byField.get('name')} />
        </div>
        <div>
          <label for={fid('roles')}>Roles (one per line; rbac can require them)</label>
          <textarea class="small" rows={3} spellcheck={false} value={Array.isArray(value.roles) ? (value.roles as unknown[]).map(String).join('\n') : ''} {...aria('roles', byField)} onInput={(e) => set('roles', lines((e.target as HTMLTextAreaElement).value))} />
          <FieldErrors field="roles" problems={byField.get('roles')} />
        </div>
      </div>
      <p id="secret-help" class="muted">
        Keys and secrets are write-only: the gateway never sends a stored one back, so the form shows it as <em>stored</em> and an edit that leaves it keeps it. Replace sets a new one. A{' '}
        <code>{'${ENV_VAR}'}</code> or <code>{'${file:/path}'}</code> reference is shown as written (it holds no secret).
      </p>
      <FieldErrors field="credentials" problems={byField.get('credentials')} />
      <fieldset class="credentials-edit">
        <legend>key-auth API keys (at least 16 characters, or "sha256:" and 64 hex digits)</legend>
        <FieldErrors field="credentials.key_auth" problems={byField.get('credentials.key_auth')} />
        <ul class="rows">
          {keys.map((k, i) => {
            const field = `credentials.key_auth[${i}]`
            const removable = keyRemovable(keys, i)
            return (
              <li key={i} class="secret-row" data-key-row={i}>
                <SecretField field={field} label={`API key ${i + 1}`} value={k} byField={byField} onChange={(s) => setCred('key_auth', keys.map((x, j) => (j === i ? s : x)))} />
                <button type="button" class="link" disabled={!removable} aria-label={`Remove API key ${i + 1}`} aria-describedby={removable ? undefined : 'key-order-help'} onClick={() => setCred('key_auth', keys.filter((_, j) => j !== i))}>
                  Remove
                </button>
              </li>
            )
          })}
        </ul>
        {keys.some((_, i) => !keyRemovable(keys, i)) && (
          <p id="key-order-help" class="muted">
            Stored keys are kept by their position, so a key can be removed only when no stored key follows it: remove the later ones first, or Replace this one.
          </p>
        )}
        <button type="button" onClick={() => setCred('key_auth', [...keys, ''])}>
          Add API key
        </button>
      </fieldset>
      <fieldset class="credentials-edit">
        <legend>hmac-auth signing credentials</legend>
        <FieldErrors field="credentials.hmac_auth" problems={byField.get('credentials.hmac_auth')} />
        <ul class="rows">
          {hmac.map((h, i) => {
            const hh = isObj(h) ? h : {}
            const idField = `credentials.hmac_auth[${i}].key_id`
            return (
              <li key={i} class="secret-row" data-hmac-row={i}>
                <div>
                  <label for={fid(idField)}>HMAC {i + 1} key id</label>
                  <input type="text" value={typeof hh.key_id === 'string' ? hh.key_id : ''} {...aria(idField, byField)} onInput={(e) => setHmac(i, 'key_id', (e.target as HTMLInputElement).value)} />
                  <FieldErrors field={idField} problems={byField.get(idField)} />
                </div>
                <SecretField field={`credentials.hmac_auth[${i}].secret`} label={`HMAC ${i + 1} secret`} value={hh.secret} byField={byField} onChange={(s) => setHmac(i, 'secret', s)} />
                <button type="button" class="link" aria-label={`Remove HMAC credential ${i + 1}`} onClick={() => setCred('hmac_auth', hmac.filter((_, j) => j !== i))}>
                  Remove
                </button>
                <FieldErrors field={`credentials.hmac_auth[${i}]`} problems={byField.get(`credentials.hmac_auth[${i}]`)} />
              </li>
            )
          })}
        </ul>
        <p class="muted">A stored secret belongs to its key id: renaming the key id needs the secret again (Replace).</p>
        <button type="button" onClick={() => setCred('hmac_auth', [...hmac, { key_id: '', secret: '' }])}>
          Add HMAC credential
        </button>
      </fieldset>
      <PluginList listKey="plugins" plugins={plugins} byField={byField} show={show} format={format} installed={installed} empty="No plugins of this consumer's own (they run once an auth plugin identifies it)." onChange={(next) => set('plugins', next)} />
    </div>
  )
}

/** One global plugin (a use of the top-level plugins: list): its name from the picker, then the shared fields. */
export function GlobalPluginForm({ value, onChange, problems, show, format, installed }: FormProps & { installed: InstalledPlugin[] }) {
  const { byField, general } = assign(problems, ['name', ...pluginFieldKeys('')])
  const [name, setName] = useState(typeof value.name === 'string' ? value.name : '')
  return (
    <div class="resource-form" data-testid="plugin-form">
      <GeneralErrors problems={general} />
      <div class="form-grid">
        <div>
          <PluginPicker
            id={fid('name')}
            label="Plugin"
            value={name}
            installed={installed}
            onInput={(s) => {
              setName(s)
              onChange(withKey(value, 'name', s))
            }}
          />
          <FieldErrors field="name" problems={byField.get('name')} />
        </div>
      </div>
      <PluginFields key={format} prefix="" plugin={value as Obj} byField={byField} show={show} format={format} schema={installed.find((p) => p.name === name)?.schema} onChange={onChange} />
      <p class="muted">Global plugins apply to every route (a route can switch one off with enabled: false). A worker runs them by phase, then priority: set the priority to order them.</p>
    </div>
  )
}

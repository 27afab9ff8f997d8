// A plugin's config as a form generated from its JSON Schema (GET /admin/installed-plugins has
// each installed plugin's): strings (a select for an enum or a union of constants), integers and
// numbers (their bounds), booleans, a duration or size (text or integer), lists (add and remove
// rows), nested objects (a fieldset); the required ones marked, the description as the field's
// help, the default as its placeholder. What it cannot show (other unions, patternProperties,
// free-form mappings, conditionals) it reports through formable(), and the plugin's config is then
// edited as text (./plugin-list.tsx). Like every form here it is a view of one value: an edit hands
// back the config with only the edited key changed, so keys without a field are kept.
import { formatPath } from '../validate'
import { FieldErrors, aria, duration, fid, isObj, num, withKey, type FormProblem, type Obj } from './form-fields'

type Kind = 'object' | 'array' | 'select' | 'string' | 'integer' | 'number' | 'boolean' | 'text-or-number'

/** Keywords whose meaning a field cannot show: a schema with any of them is edited as text. */
const UNSUPPORTED = ['oneOf', 'allOf', 'not', 'if', 'then', 'else', 'patternProperties', '$ref', 'dependentRequired', 'dependentSchemas']

const branches = (s: Obj): Obj[] => (Array.isArray(s.anyOf) ? (s.anyOf as unknown[]).filter(isObj) : [])
const constants = (s: Obj): unknown[] | undefined => {
  if (Array.isArray(s.enum)) return s.enum as unknown[]
  const b = branches(s)
  return b.length > 0 && b.every((x) => x.const !== undefined) ? b.map((x) => x.const) : undefined
}

/** How a schema is shown, or undefined when the form cannot show it. */
function kindOf(s: unknown): Kind | undefined {
  if (!isObj(s) || UNSUPPORTED.some((k) => s[k] !== undefined)) return undefined
  const consts = constants(s)
  if (consts !== undefined) return consts.every((c) => typeof c === 'string' || typeof c === 'number') ? 'select' : undefined
  if (s.anyOf !== undefined) {
    // A duration or a size: "2s" or integer milliseconds, one text field.
    const b = branches(s)
    const str = b.filter((x) => x.type === 'string' && x.const === undefined)
    const nums = b.filter((x) => x.type === 'integer' || x.type === 'number')
    return b.length === 2 && str.length === 1 && nums.length === 1 ? 'text-or-number' : undefined
  }
  switch (s.type) {
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      return s.type
    case 'array':
      return kindOf(s.items) !== undefined && kindOf(s.items) !== 'array' ? 'array' : undefined
    case 'object': {
      // A mapping with named keys only; a free-form one (no properties, or any key allowed) is text.
      if (!isObj(s.properties) || Object.keys(s.properties).length === 0 || (s.additionalProperties !== undefined && s.additionalProperties !== false)) return undefined
      return Object.values(s.properties).every((p) => kindOf(p) !== undefined) ? 'object' : undefined
    }
    default:
      return undefined
  }
}

/** Whether `value` has the shape the form would show (a list where a list is, and so on). */
function fits(s: Obj, value: unknown): boolean {
  if (value === undefined) return true
  const kind = kindOf(s)
  if (kind === 'object') return isObj(value) && Object.entries(s.properties as Obj).every(([k, p]) => fits(p as Obj, value[k]))
  if (kind === 'array') return Array.isArray(value) && value.every((x) => fits(s.items as Obj, x))
  return !isObj(value) && !Array.isArray(value)
}

/** Whether a plugin's config can be edited by the form: its schema is an object the form can show, and the value fits it. */
export function formable(schema: unknown, value: unknown): boolean {
  return isObj(schema) && kindOf(schema) === 'object' && fits(schema, value)
}

/** A child's field key, spelled as formatPath() spells problem paths (`.key`, `[0]`, `["a b"]` after the parent's). */
const child = (base: string, seg: string | number) => (base === '' ? formatPath([seg]) : `${base}${formatPath(['_', seg]).slice(1)}`)

/** Every field key of the form for `value` at `base`, for assign(). */
export function schemaFieldKeys(schema: unknown, value: unknown, base: string): string[] {
  const kind = kindOf(schema)
  if (!isObj(schema)) return []
  if (kind === 'object') {
    const v = isObj(value) ? value : {}
    return Object.entries(schema.properties as Obj).flatMap(([k, p]) => [child(base, k), ...schemaFieldKeys(p, v[k], child(base, k))])
  }
  if (kind === 'array' && Array.isArray(value)) return value.flatMap((x, i) => [child(base, i), ...schemaFieldKeys(schema.items, x, child(base, i))])
  return []
}

const shown = (x: unknown) => (x === undefined ? '' : Array.isArray(x) ? x.map(String).join(', ') : typeof x === 'object' ? JSON.stringify(x) : String(x))

interface FieldProps {
  schema: Obj
  value: unknown
  onChange: (v: unknown) => void
  field: string
  /** The visible name (the key, or "item 2"); `context` goes before it for the accessible name. */
  name: string
  context: string
  required: boolean
  /** In a list: an emptied text field stays an empty string instead of dropping the item. */
  inList?: boolean
  byField: Map<string, FormProblem[]>
}

function Label({ field, name, context, required }: { field: string; name: string; context: string; required: boolean }) {
  return (
    // The marker outside the label: the field's name stays its name; aria-required says it.
    <div class="label-row">
      <label for={fid(field)}>
        <span class="sr-only">{context} </span>
        {name}
      </label>
      {required && (
        <span class="required" aria-hidden="true" title="required">
          *
        </span>
      )}
    </div>
  )
}

function Help({ field, schema }: { field: string; schema: Obj }) {
  const d = typeof schema.description === 'string' ? schema.description : undefined
  const def = schema.default !== undefined && (Array.isArray(schema.default) || schema.type === 'boolean') ? `Default: ${shown(schema.default) || '(none)'}.` : undefined
  if (d === undefined && def === undefined) return null
  return (
    <p id={`${fid(field)}-help`} class="muted field-help">
      {[d, def].filter((x) => x !== undefined).join(' ')}
    </p>
  )
}

function SchemaField(props: FieldProps) {
  const { schema, value, onChange, field, name, context, required, byField, inList = false } = props
  const kind = kindOf(schema)
  const help = typeof schema.description === 'string' || (schema.default !== undefined && (Array.isArray(schema.default) || schema.type === 'boolean')) ? `${fid(field)}-help` : undefined
  const placeholder = schema.default === undefined || Array.isArray(schema.default) || isObj(schema.default) ? undefined : String(schema.default)
  const text = (t: string): unknown => (t === '' && !inList ? undefined : t)
  const errors = <FieldErrors field={field} problems={byField.get(field)} />
  const req = required ? { 'aria-required': true } : {}
  switch (kind) {
    case 'object':
      return <ObjectFields {...props} />
    case 'array':
      return <ArrayField {...props} />
    case 'boolean': {
      const def = schema.default === true
      return (
        <div>
          <label class="inline">
            {/* Absent means the default: setting it back to the default drops the key. */}
            <input type="checkbox" checked={typeof value === 'boolean' ? value : def} {...aria(field, byField, help)} onChange={(e) => {
              const on = (e.target as HTMLInputElement).checked
              onChange(on === def && !required && !inList ? undefined : on)
            }} />{' '}
            <span class="sr-only">{context} </span>
            {name}
          </label>
          <Help field={field} schema={schema} />
          {errors}
        </div>
      )
    }
    case 'select': {
      const options = constants(schema) ?? []
      const at = options.findIndex((o) => o === value)
      return (
        <div>
          <Label field={field} name={name} context={context} required={required} />
          <select value={at === -1 ? (value === undefined ? '' : 'other') : String(at)} {...aria(field, byField, help)} {...req} onChange={(e) => {
            const i = (e.target as HTMLSelectElement).value
            onChange(i === '' ? undefined : options[Number(i)])
          }}>
            <option value="">{schema.default !== undefined ? `(default: ${String(schema.default)})` : '(not set)'}</option>
            {at === -1 && value !== undefined && <option value="other">{shown(value)} (not allowed)</option>}
            {options.map((o, i) => (
              <option key={i} value={String(i)}>
                {String(o)}
              </option>
            ))}
          </select>
          <Help field={field} schema={schema} />
          {errors}
        </div>
      )
    }
    case 'integer':
    case 'number':
      return (
        <div>
          <Label field={field} name={name} context={context} required={required} />
          <input type="number" step={kind === 'integer' ? 1 : 'any'} min={typeof schema.minimum === 'number' ? schema.minimum : undefined} max={typeof schema.maximum === 'number' ? schema.maximum : undefined} placeholder={placeholder} value={value === undefined ? '' : String(value)} {...aria(field, byField, help)} {...req} onInput={(e) => onChange(num((e.target as HTMLInputElement).value))} />
          <Help field={field} schema={schema} />
          {errors}
        </div>
      )
    case 'string':
    case 'text-or-number':
      return (
        <div>
          <Label field={field} name={name} context={context} required={required} />
          <input type="text" spellcheck={false} placeholder={placeholder} value={value === undefined ? '' : String(value)} {...aria(field, byField, help)} {...req} onInput={(e) => {
            const t = (e.target as HTMLInputElement).value
            onChange(kind === 'string' ? text(t) : (duration(t) ?? text(t)))
          }} />
          <Help field={field} schema={schema} />
          {errors}
        </div>
      )
    default:
      return null
  }
}

/** The named keys of a mapping, in a fieldset (the config itself has the plugin's own). */
export function ObjectFields({ schema, value, onChange, field, name, context, byField, inList = false }: FieldProps) {
  const obj = isObj(value) ? value : {}
  const props = schema.properties as Obj
  const required = new Set(Array.isArray(schema.required) ? (schema.required as unknown[]).map(String) : [])
  const inner = `${context} ${name}`.trim()
  const set = (k: string, v: unknown) => {
    const next = withKey(obj, k, v)
    onChange(Object.keys(next).length === 0 && !inList ? undefined : next)
  }
  return (
    <fieldset class="schema-object" data-field={field}>
      <legend>
        <span class="sr-only">{context} </span>
        {name}
      </legend>
      {typeof schema.description === 'string' && <p class="muted field-help">{schema.description}</p>}
      <div class="form-grid">
        {Object.entries(props).map(([k, p]) => {
          const ps = p as Obj
          const kind = kindOf(ps)
          const el = <SchemaField key={k} schema={ps} value={obj[k]} onChange={(v) => set(k, v)} field={child(field, k)} name={k} context={inner} required={required.has(k) && ps.default === undefined} byField={byField} />
          // Lists and mappings take the grid's whole width.
          return kind === 'object' || kind === 'array' ? (
            <div key={k} class="wide">
              {el}
            </div>
          ) : (
            el
          )
        })}
      </div>
      <FieldErrors field={field} problems={byField.get(field)} />
    </fieldset>
  )
}

function ArrayField({ schema, value, onChange, field, name, context, required, byField }: FieldProps) {
  const list = Array.isArray(value) ? (value as unknown[]) : []
  const items = schema.items as Obj
  const itemKind = kindOf(items)
  const inner = `${context} ${name}`.trim()
  const set = (next: unknown[]) => onChange(next.length === 0 ? undefined : next)
  const blank = (): unknown => (itemKind === 'object' ? {} : itemKind === 'boolean' ? false : itemKind === 'select' ? (constants(items) ?? [''])[0] : '')
  return (
    <fieldset class="schema-array" data-field={field} aria-describedby={[typeof schema.description === 'string' || Array.isArray(schema.default) ? `${fid(field)}-help` : undefined, `${fid(field)}-err`].filter((x) => x !== undefined).join(' ')}>
      <legend>
        <span class="sr-only">{context} </span>
        {name}
        {required && (
          <span class="required" aria-hidden="true" title="required">
            {' '}
            *
          </span>
        )}
        {required && <span class="sr-only"> (required)</span>}
      </legend>
      <Help field={field} schema={schema} />
      <ul class="rows">
        {list.map((x, i) => (
          <li key={i} class="schema-row">
            <SchemaField schema={items} value={x} onChange={(v) => set(list.map((y, j) => (j === i ? v : y)))} field={child(field, i)} name={`${name} ${i + 1}`} context={context} required={false} inList byField={byField} />
            <button type="button" class="link" aria-label={`Remove ${inner} ${i + 1}`} onClick={() => set(list.filter((_, j) => j !== i))}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <button type="button" aria-label={`Add ${inner}`} onClick={() => onChange([...list, blank()])}>
        Add
      </button>
      <FieldErrors field={field} problems={byField.get(field)} />
    </fieldset>
  )
}

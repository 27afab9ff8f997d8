// The pieces every resource form is built of (./forms.tsx, ./plugin-list.tsx, ./consumer-form.tsx):
// a field's id and ARIA wiring, its problems shown beside it, and the small value converters.
import type { Problem } from '../validate'

export type Obj = Record<string, unknown>
export type FormProblem = Problem & { full: string }
export const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)

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
export function withKey(obj: Obj, key: string, val: unknown): Obj {
  const next = { ...obj }
  if (val === undefined) delete next[key]
  else next[key] = val
  return next
}

export const matches = (rel: string, key: string) => rel === key || rel.startsWith(`${key}[`) || rel.startsWith(`${key}.`)

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

export const fid = (key: string) => `field-${key.replace(/[^A-Za-z0-9_-]/g, '_')}`

/** The problems of one field, next to it: the input points here with aria-describedby. */
export function FieldErrors({ field, problems }: { field: string; problems: FormProblem[] | undefined }) {
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

export function aria(field: string, byField: Map<string, FormProblem[]>, help?: string) {
  return {
    id: fid(field),
    'aria-describedby': [help, `${fid(field)}-err`].filter((x) => x !== undefined).join(' '),
    'aria-invalid': (byField.get(field)?.length ?? 0) > 0,
  }
}

/** A list of strings as a text area, one per line; empty → the key is dropped. */
export function lines(text: string): string[] | undefined {
  return text === '' ? undefined : text.split('\n')
}

/** A number input's value: empty → dropped, else a number (the validator says if it must be an integer). */
export function num(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text)
}

/** A duration field: "2s", or digits as integer milliseconds. */
export function duration(text: string): string | number | undefined {
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


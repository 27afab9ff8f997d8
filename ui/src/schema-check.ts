// A plugin's config checked against its JSON Schema in the browser, for the as-you-type problems
// of the plugin config forms. The document's schema is compiled at build time (ui/vite.config.ts),
// but a plugin's comes from the gateway at run time (GET /admin/installed-plugins, user plugins
// included), and the console's Content-Security-Policy has no 'unsafe-eval', so Ajv cannot compile
// it here. This walks the schema instead, for the keywords plugin schemas use, and reports errors
// in Ajv's shape ({keyword, instancePath, schemaPath, params}) so that ./validate.ts words them as
// it words the document's. As the gateway's plugin validator (useDefaults, src/config/validate.ts),
// a required key whose schema has a default is filled in, not missing. Keywords it does not know
// (if/then/else, not, oneOf) it leaves to the gateway's dry run, which stays the authority.
export interface SchemaError {
  keyword: string
  instancePath: string
  schemaPath: string
  params: Record<string, unknown>
  message?: string
}

type Obj = Record<string, unknown>
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)
const esc = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1')

function typeOk(type: string, x: unknown): boolean {
  switch (type) {
    case 'object':
      return isObj(x)
    case 'array':
      return Array.isArray(x)
    case 'integer':
      return typeof x === 'number' && Number.isInteger(x)
    case 'number':
      return typeof x === 'number' && Number.isFinite(x)
    case 'null':
      return x === null
    default:
      return typeof x === type
  }
}

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** Every error of `data` against `schema` (empty when it passes). */
export function checkSchema(schema: unknown, data: unknown): SchemaError[] {
  const out: SchemaError[] = []
  walk(schema, data, '', '#', out)
  return out
}

function walk(schema: unknown, x: unknown, at: string, sp: string, out: SchemaError[]): void {
  if (!isObj(schema)) return
  const err = (keyword: string, params: Record<string, unknown>, path = at) => out.push({ keyword, instancePath: path, schemaPath: `${sp}/${keyword}`, params })
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf as unknown[]
    if (!branches.some((b) => checkSchema(b, x).length === 0)) err('anyOf', {})
  }
  if (schema.const !== undefined && !equal(schema.const, x)) err('const', { allowedValue: schema.const })
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => equal(e, x))) err('enum', { allowedValues: schema.enum })
  if (schema.type !== undefined) {
    const types = (Array.isArray(schema.type) ? schema.type : [schema.type]).map(String)
    if (!types.some((t) => typeOk(t, x) || (t === 'number' && typeOk('integer', x)))) {
      err('type', { type: types.join(',') })
      return
    }
  }
  if (typeof x === 'string') {
    const len = [...x].length
    if (typeof schema.minLength === 'number' && len < schema.minLength) err('minLength', { limit: schema.minLength })
    if (typeof schema.maxLength === 'number' && len > schema.maxLength) err('maxLength', { limit: schema.maxLength })
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(x)) err('pattern', { pattern: schema.pattern })
  }
  if (typeof x === 'number') {
    if (typeof schema.minimum === 'number' && x < schema.minimum) err('minimum', { comparison: '>=', limit: schema.minimum })
    if (typeof schema.maximum === 'number' && x > schema.maximum) err('maximum', { comparison: '<=', limit: schema.maximum })
    if (typeof schema.exclusiveMinimum === 'number' && x <= schema.exclusiveMinimum) err('exclusiveMinimum', { comparison: '>', limit: schema.exclusiveMinimum })
    if (typeof schema.exclusiveMaximum === 'number' && x >= schema.exclusiveMaximum) err('exclusiveMaximum', { comparison: '<', limit: schema.exclusiveMaximum })
  }
  if (Array.isArray(x)) {
    if (typeof schema.minItems === 'number' && x.length < schema.minItems) err('minItems', { limit: schema.minItems })
    if (typeof schema.maxItems === 'number' && x.length > schema.maxItems) err('maxItems', { limit: schema.maxItems })
    if (schema.uniqueItems === true) {
      // As Ajv: from the end, the first item equal to an earlier one; in Ajv's own words (the gateway's too).
      const keys = x.map((item) => JSON.stringify(item))
      const i = keys.findLastIndex((k, n) => keys.indexOf(k) < n)
      if (i !== -1) {
        const j = keys.lastIndexOf(keys[i]!, i - 1)
        out.push({ keyword: 'uniqueItems', instancePath: at, schemaPath: `${sp}/uniqueItems`, params: { i, j }, message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)` })
      }
    }
    if (isObj(schema.items)) x.forEach((item, i) => walk(schema.items, item, `${at}/${i}`, `${sp}/items`, out))
  }
  if (isObj(x)) {
    const props = isObj(schema.properties) ? schema.properties : {}
    for (const key of Array.isArray(schema.required) ? (schema.required as unknown[]).map(String) : []) {
      if (x[key] === undefined && !(isObj(props[key]) && props[key].default !== undefined)) err('required', { missingProperty: key })
    }
    const patterns = isObj(schema.patternProperties) ? Object.entries(schema.patternProperties) : []
    for (const [key, val] of Object.entries(x)) {
      if (val === undefined) continue
      if (key in props) {
        walk(props[key], val, `${at}/${esc(key)}`, `${sp}/properties/${esc(key)}`, out)
        continue
      }
      const matched = patterns.filter(([p]) => new RegExp(p, 'u').test(key))
      for (const [p, s] of matched) walk(s, val, `${at}/${esc(key)}`, `${sp}/patternProperties/${esc(p)}`, out)
      if (matched.length > 0) continue
      if (schema.additionalProperties === false) err('additionalProperties', { additionalProperty: key })
      else if (isObj(schema.additionalProperties)) walk(schema.additionalProperties, val, `${at}/${esc(key)}`, `${sp}/additionalProperties`, out)
    }
  }
}

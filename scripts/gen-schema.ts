// Generates schema/portico.config.json (the published JSON Schema, for editors and CI),
// docs/config-reference.md (every key with type, default and description, plus each built-in
// plugin's config) from the TypeBox schema and the plugin registry, and schema/admin-openapi.json
// (the admin API's OpenAPI document, src/control/admin/openapi.ts), so none can drift from code.
//   npm run schema             write both files
//   npm run schema -- --check  exit 1 if either file is out of date (CI, schema-fresh test)
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { dirname, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigSchema } from '../src/config/schema/index.js'
import { DURATION_PATTERN, SIZE_PATTERN } from '../src/config/units.js'
import { BUILTIN_PLUGINS } from '../src/plugins/registry.js'
import { adminOpenApiText } from '../src/control/admin/openapi.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SCHEMA_FILE = fileURLToPath(new URL('../schema/portico.config.json', import.meta.url))
const OPENAPI_FILE = fileURLToPath(new URL('../schema/admin-openapi.json', import.meta.url))
const DOCS_FILE = fileURLToPath(new URL('../docs/config-reference.md', import.meta.url))

/** TypeBox keeps its metadata under symbol keys, which JSON.stringify drops. */
function jsonSchema(): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...ConfigSchema }, null, 2)}\n`
}

// ---------------------------------------------------------------------------------------------
// Markdown reference

function unitKind(s: Obj): 'duration' | 'size' | undefined {
  const patterns = Array.isArray(s.anyOf) ? (s.anyOf as Obj[]).map((b) => b.pattern) : []
  if (patterns.includes(DURATION_PATTERN)) return 'duration'
  if (patterns.includes(SIZE_PATTERN)) return 'size'
  return undefined
}

/** The schema of a map's values: TypeBox records use patternProperties. */
function mapValues(s: Obj): Obj | undefined {
  if (isObj(s.patternProperties)) return Object.values(s.patternProperties)[0] as Obj
  return isObj(s.additionalProperties) ? s.additionalProperties : undefined
}

const isSection = (s: Obj): boolean => isObj(s.properties)

interface Section {
  title: string
  schema: Obj
}

/** Readable type; nested objects point to their own section, which is queued. */
function typeOf(s: Obj, at: string, queue: Section[], seen: Map<Obj, string>): string {
  const kind = unitKind(s)
  if (kind !== undefined) return kind
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``
  if (Array.isArray(s.anyOf)) return (s.anyOf as Obj[]).map((b) => typeOf(b, at, queue, seen)).join(' | ')
  if (Array.isArray(s.enum)) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ')
  if (s.type === 'array' && isObj(s.items)) return `list of ${typeOf(s.items, `${at}[]`, queue, seen)}`
  if (isSection(s)) {
    let title = seen.get(s)
    if (title === undefined) {
      title = at
      seen.set(s, title)
      queue.push({ title, schema: s })
    }
    return `object (see [\`${title}\`](#${anchor(title)}))`
  }
  const values = mapValues(s)
  if (s.type === 'object' && values !== undefined) return `map of ${typeOf(values, `${at}.<name>`, queue, seen)}`
  if (s.type === 'object') return 'object'
  if (s.type === undefined) return 'any'
  const range = typeof s.minimum === 'number' && typeof s.maximum === 'number' ? ` (${s.minimum}–${s.maximum})` : ''
  return `${String(s.type)}${range}`
}

/** GitHub's heading anchors: lower-case, punctuation dropped, spaces to dashes. */
function anchor(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-')
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ')

function table(section: Section, queue: Section[], seen: Map<Obj, string>): string {
  const required = new Set(Array.isArray(section.schema.required) ? (section.schema.required as string[]) : [])
  const rows = Object.entries(section.schema.properties as Record<string, Obj>).map(([key, s]) => {
    const prefix = section.title === 'Top level' ? '' : `${section.title}.`
    const type = typeOf(s, `${prefix}${key}`, queue, seen)
    const def = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``
    const name = required.has(key) ? `\`${key}\` **(required)**` : `\`${key}\``
    return `| ${name} | ${cell(type)} | ${cell(def)} | ${cell(typeof s.description === 'string' ? s.description : '')} |`
  })
  return ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n')
}

/** Renders `root` and every object section reachable from it, breadth first. */
function sections(root: Section, level: string): string[] {
  const seen = new Map<Obj, string>([[root.schema, root.title]])
  const queue: Section[] = [root]
  const out: string[] = []
  for (let i = 0; i < queue.length; i++) {
    const section = queue[i]!
    const body = table(section, queue, seen)
    const description = typeof section.schema.description === 'string' && i > 0 ? `${section.schema.description}\n\n` : ''
    out.push(`${level} ${section.title}\n\n${description}${body}\n`)
  }
  return out
}

function referenceDoc(): string {
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run schema` from src/config/schema/ and the plugin registry. Do not edit by hand. -->',
    '',
    'Portico reads one YAML or JSON document. The JSON Schema is published as',
    '[`schema/portico.config.json`](../schema/portico.config.json); point your editor at it with',
    '`# yaml-language-server: $schema=./schema/portico.config.json` for completion and checks.',
    'A document that starts with `{` and is valid JSON is read with `JSON.parse` (large generated',
    'configs load in milliseconds instead of the YAML parser\'s seconds); an invalid one is read',
    'again as YAML so its errors carry line:column. In JSON the last of duplicate keys wins.',
    '',
    '- Keys are snake_case. Unknown keys are errors, with a "did you mean" hint.',
    '- A **duration** is `250ms`, `2s`, `5m`, `1h` or integer milliseconds. A **size** is `512b`, `64kb`,',
    '  `10mb`, `1gb` (binary multiples) or integer bytes.',
    '- `${NAME}` and `${NAME:-default}` in string values are replaced from the environment; an unset',
    '  variable without a default is an error. Write `$${` for a literal `${`. `${env:NAME}` is the same.',
    '- `${file:path}` (relative to the config file, or absolute) is replaced by the file\'s content, one trailing newline dropped (Docker and',
    '  Kubernetes secret files); an unreadable file is an error naming the path. After rotating the',
    '  secret file, send SIGHUP. Resolved values are secrets: never quoted in an error, and the admin API,',
    '  `portico config dump` and the audit log show the reference, not the value.',
    '- Validate a file without starting the gateway: every error names the file, the YAML path and',
    '  the line:column.',
    '',
    ...sections({ title: 'Top level', schema: ConfigSchema as unknown as Obj }, '##'),
    '## Built-in plugins',
    '',
    'Use a plugin under `plugins:` (global) or `routes[].plugins` by `name`, with its settings under',
    '`config`. Defaults below are filled in before the plugin starts.',
    '',
  ]
  for (const def of [...BUILTIN_PLUGINS.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const schema = def.schema as unknown as Obj
    out.push(`### Plugin \`${def.name}\``, '')
    out.push(`Phases: ${def.phases.join(', ')}. Priority: ${def.priority}. Status: ${def.status}.`, '')
    if (typeof schema.description === 'string') out.push(schema.description, '')
    if (isSection(schema)) {
      out.push(...sections({ title: `${def.name}.config`, schema: { ...schema, description: undefined } }, '####').map((s, i) => (i === 0 ? s.replace(/^#### .*\n\n/, '') : s)))
    } else {
      out.push('This plugin takes no configuration.', '')
    }
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`
}

// ---------------------------------------------------------------------------------------------

async function current(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch {
    return undefined
  }
}

async function main(check: boolean): Promise<number> {
  const outputs: [string, string][] = [
    [SCHEMA_FILE, jsonSchema()],
    [DOCS_FILE, referenceDoc()],
    [OPENAPI_FILE, adminOpenApiText()],
  ]
  const stale: string[] = []
  for (const [file, text] of outputs) {
    if ((await current(file)) === text) continue
    stale.push(file)
    if (!check) {
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, text)
    }
  }
  const shown = stale.map((f) => relative(ROOT, f))
  if (check && stale.length > 0) {
    console.error(`out of date: ${shown.join(', ')}\nthe config schema, a plugin schema or the admin API's operations changed; run \`npm run schema\` and commit the result`)
    return 1
  }
  console.log(stale.length === 0 ? 'schema, config reference and admin OpenAPI document are up to date' : `wrote ${shown.join(', ')}`)
  return 0
}

process.exitCode = await main(process.argv.includes('--check'))

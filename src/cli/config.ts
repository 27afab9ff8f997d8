// `portico config dump | diff | apply`: declarative sync against a running gateway's admin API
// (decK-style). The local file is sent as written (${ENV} references unresolved: the gateway
// resolves them with its own environment); the gateway computes the resource-level diff with its
// validator (PUT /admin/config?dry_run=true), so diff and apply agree and secrets never leave it.
import { writeFile } from 'node:fs/promises'
import { request } from 'undici'
import { stringify } from 'yaml'
import { adminDispatcher } from './admin-client.js'
import { readDocumentAsWritten } from '../control/admin/authority.js'
import { KINDS, list, put } from '../control/admin/resources.js'

export class ConfigUsageError extends Error {}

/** Where the command writes (tests pass their own). */
export interface Output {
  out(text: string): void
  err(text: string): void
}

const STDIO: Output = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) }

type Obj = Record<string, unknown>

export interface ConfigArgs {
  sub: string | undefined
  config?: string | undefined
  admin?: string | undefined
  token?: string | undefined
  prune?: boolean | undefined
  dryRun?: boolean | undefined
  output?: string | undefined
  json?: boolean | undefined
}

interface Reply {
  status: number
  etag: string | undefined
  body: Obj
}

async function call(a: ConfigArgs, method: 'GET' | 'PUT', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const base = (a.admin ?? process.env.PORTICO_ADMIN_URL ?? 'http://127.0.0.1:9180').replace(/\/+$/, '')
  const token = a.token ?? process.env.PORTICO_ADMIN_TOKEN
  const res = await request(`${base}${path}`, {
    method,
    headers: {
      ...(token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    dispatcher: adminDispatcher(),
  })
  const text = await res.body.text()
  let parsed: Obj = {}
  try {
    parsed = JSON.parse(text) as Obj
  } catch {
    parsed = { message: text.slice(0, 500) }
  }
  const etag = res.headers.etag
  return { status: res.statusCode, etag: typeof etag === 'string' ? etag : undefined, body: parsed }
}

function failure(r: Reply): string {
  const lines = [`portico: the gateway answered ${r.status} ${String(r.body.error ?? '')}: ${String(r.body.message ?? '')}`]
  for (const e of (r.body.errors as Array<{ path: string; message: string; hint?: string }> | undefined) ?? []) {
    lines.push(`  ${e.path === '' ? '' : `${e.path}: `}${e.message}${e.hint === undefined ? '' : ` (${e.hint})`}`)
  }
  return lines.join('\n') + '\n'
}

/** Without --prune, resources only on the gateway are kept: the local document is laid over the remote one. */
function overlay(local: Obj, remote: Obj): Obj {
  let out: Obj = { ...remote, ...Object.fromEntries(Object.entries(local).filter(([k]) => !(KINDS as readonly string[]).includes(k))) }
  for (const kind of KINDS) {
    out = { ...out, [kind]: remote[kind] ?? (kind === 'upstreams' ? {} : []) }
    for (const r of list(local, kind)) out = put(out, kind, String(r.name), r)
    if (local[kind] === undefined && remote[kind] === undefined) delete out[kind]
  }
  return out
}

function printChanges(io: Output, changes: Array<{ kind: string; name: string; op: string }>): void {
  if (changes.length === 0) {
    io.out('no changes\n')
    return
  }
  const sign: Record<string, string> = { create: '+', update: '~', delete: '-' }
  for (const c of changes) io.out(`${sign[c.op] ?? '?'} ${c.kind}/${c.name}\n`)
  const count = (op: string) => changes.filter((c) => c.op === op).length
  io.out(`${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete\n`)
}

export async function configCommand(a: ConfigArgs, io: Output = STDIO): Promise<number> {
  switch (a.sub) {
    case 'dump': {
      const r = await call(a, 'GET', '/admin/config')
      if (r.status !== 200) {
        io.err(failure(r))
        return 1
      }
      const text = a.json === true ? JSON.stringify(r.body.data, null, 2) + '\n' : stringify(r.body.data)
      if (a.output !== undefined) await writeFile(a.output, text, { mode: 0o600 })
      else io.out(text)
      return 0
    }
    case 'diff':
    case 'apply': {
      if (a.config === undefined) throw new ConfigUsageError(`config ${a.sub} needs -c <file>`)
      const local = await readDocumentAsWritten(a.config)
      const remote = await call(a, 'GET', '/admin/config')
      if (remote.status !== 200) {
        io.err(failure(remote))
        return 1
      }
      const doc = a.prune === true ? local : overlay(local, remote.body.data as Obj)
      const dry = a.sub === 'diff' || a.dryRun === true
      const r = await call(a, 'PUT', `/admin/config${dry ? '?dry_run=true' : ''}`, doc, remote.etag === undefined ? {} : { 'if-match': remote.etag })
      const changes = (r.body.changes as Array<{ kind: string; name: string; op: string }> | undefined) ?? []
      if (r.status >= 400) {
        if (changes.length > 0) printChanges(io, changes)
        io.err(failure(r))
        return 1
      }
      printChanges(io, changes)
      if (!dry) io.out(`applied: version ${String(r.body.version)}\n`)
      // diff exits 0 when in sync and 3 when something would change (like `diff`'s 1, kept apart from errors).
      return a.sub === 'diff' && changes.length > 0 ? 3 : 0
    }
    default:
      throw new ConfigUsageError(a.sub === undefined ? 'config needs a subcommand: dump, diff or apply' : `unknown config subcommand '${a.sub}'`)
  }
}


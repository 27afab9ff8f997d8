// The `portico` command: argument parsing and dispatch only; the work lives in control/ and config/.
// Exit codes: 0 ok, 1 failure (invalid config, cannot start), 2 usage error.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { formatErrors } from '../config/errors.js'
import type { LoadResult } from '../config/load.js'
import { PORTICO_VERSION } from '../core/version.js'
import { CONFIG_USAGE, EXPLAIN_USAGE, MAIN_USAGE, MIGRATE_USAGE, REVOKE_USAGE, START_USAGE, UPGRADE_USAGE, VALIDATE_USAGE } from './usage.js'

/**
 * Loads and validates `file` against the built-in plugins. Imported on use, like every command's
 * code: the plugin registry alone took most of a second to load, which `--help`, `--version` and
 * usage errors paid for nothing (and ten times that on a loaded CI host).
 */
async function loadChecked(file: string): Promise<LoadResult> {
  const [{ loadConfigFile }, { INSTALLED_CHECKS }] = await Promise.all([import('../config/load.js'), import('../snapshot/installed-checks.js')])
  return loadConfigFile(file, { checks: INSTALLED_CHECKS })
}

class UsageError extends Error {}

const CONFIG = { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } as const

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

function configFile(flag: string | undefined): string {
  return flag ?? (process.env.PORTICO_CONFIG || './portico.yaml')
}

function parseWorkers(value: string | undefined): number | 'auto' | undefined {
  if (value === undefined || value === 'auto') return value
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < 1 || n > 256) throw new UsageError(`--workers must be auto or an integer from 1 to 256, got "${value}"`)
  return n
}

async function validate(args: string[]): Promise<number> {
  const v = parse(args, CONFIG)
  if (v.help === true) return help(VALIDATE_USAGE)
  const file = configFile(v.config)
  const result = await loadChecked(file)
  if (!result.ok) {
    process.stderr.write(formatErrors(result.errors) + '\n')
    process.stderr.write(`${file}: ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}\n`)
    return 1
  }
  const routes = result.config.routes.length
  const upstreams = Object.keys(result.config.upstreams).length
  process.stdout.write(`${file}: OK (${routes} route${routes === 1 ? '' : 's'}, ${upstreams} upstream${upstreams === 1 ? '' : 's'}, hash ${result.hash.slice(0, 12)})\n`)
  const { USER_PLUGIN_NAMES } = await import('../plugins/installed.js')
  if (USER_PLUGIN_NAMES.length > 0) process.stdout.write(`${file}: user plugins loaded (PORTICO_PLUGINS): ${USER_PLUGIN_NAMES.join(', ')}\n`)
  const { sharedStateWarnings } = await import('../config/shared-state.js')
  for (const w of sharedStateWarnings(result.config)) process.stderr.write(`${file}: warning: ${w}\n`)
  return 0
}

async function start(args: string[]): Promise<number | null> {
  const v = parse(args, { ...CONFIG, workers: { type: 'string', short: 'w' }, 'no-cluster': { type: 'boolean' }, handoff: { type: 'boolean' } })
  if (v.help === true) return help(START_USAGE)
  const workers = parseWorkers(v.workers)
  if (v['no-cluster'] === true && workers !== undefined) throw new UsageError('--workers and --no-cluster exclude each other')
  // Imported on use: one-shot commands (config, revoke) need not load the whole gateway.
  const { runPrimary } = await import('../control/primary.js')
  await runPrimary({ file: configFile(v.config), workers, cluster: v['no-cluster'] !== true, handoff: v.handoff === true })
  return null
}

async function revoke(args: string[]): Promise<number> {
  const v = parse(args, {
    ...CONFIG,
    jti: { type: 'string' },
    exp: { type: 'string' },
    sub: { type: 'string' },
    before: { type: 'string' },
    ttl: { type: 'string' },
    admin: { type: 'string' },
  })
  if (v.help === true) return help(REVOKE_USAGE)
  const { revokeCommand, RevokeUsageError } = await import('./revoke.js')
  try {
    return await revokeCommand({ config: configFile(v.config), jti: v.jti, exp: v.exp, sub: v.sub, before: v.before, ttl: v.ttl, admin: v.admin })
  } catch (err) {
    if (err instanceof RevokeUsageError) throw new UsageError(err.message)
    throw err
  }
}

async function config(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub === undefined || sub === '-h' || sub === '--help') return help(CONFIG_USAGE)
  const v = parse(rest, {
    config: { type: 'string', short: 'c' },
    admin: { type: 'string' },
    token: { type: 'string' },
    prune: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    output: { type: 'string', short: 'o' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (v.help === true) return help(CONFIG_USAGE)
  const { configCommand, ConfigUsageError } = await import('./config.js')
  try {
    return await configCommand({ sub, config: v.config, admin: v.admin, token: v.token, prune: v.prune, dryRun: v['dry-run'], output: v.output, json: v.json })
  } catch (err) {
    if (err instanceof ConfigUsageError) throw new UsageError(err.message)
    throw err
  }
}

async function migrate(args: string[]): Promise<number> {
  const [direction, ...rest] = args
  if (direction === undefined || direction === '-h' || direction === '--help') return help(MIGRATE_USAGE)
  const v = parse(rest, { config: { type: 'string', short: 'c' }, to: { type: 'string' }, force: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } })
  if (v.help === true) return help(MIGRATE_USAGE)
  const { migrateCommand, MigrateUsageError } = await import('./migrate.js')
  try {
    return await migrateCommand({ direction, config: v.config, to: v.to, force: v.force, dryRun: v['dry-run'] })
  } catch (err) {
    if (err instanceof MigrateUsageError) throw new UsageError(err.message)
    throw err
  }
}

async function explain(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: { ...CONFIG, header: { type: 'string', short: 'H', multiple: true }, sni: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const v = parsed.values
  if (v.help === true) return help(EXPLAIN_USAGE)
  const [method, url, ...extra] = parsed.positionals
  if (method === undefined || url === undefined || extra.length > 0) throw new UsageError('explain needs <METHOD> <URL>, e.g. portico explain GET http://api.example.com/users/7')
  if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`"${method}" is not an HTTP method`)
  const headers: Record<string, string> = {}
  for (const h of v.header ?? []) {
    const colon = h.indexOf(':')
    if (colon <= 0) throw new UsageError(`--header "${h}" is not 'Name: value'`)
    headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim()
  }
  const file = configFile(v.config)
  const result = await loadChecked(file)
  if (!result.ok) {
    process.stderr.write(formatErrors(result.errors) + '\n')
    return 1
  }
  const [{ explainRequest, formatExplanation }, { INSTALLED_PLUGINS }] = await Promise.all([import('../control/explain.js'), import('../plugins/installed.js')])
  const e = explainRequest(result.config, INSTALLED_PLUGINS, { method, url, headers, sni: v.sni })
  process.stdout.write(v.json === true ? JSON.stringify(e, null, 2) + '\n' : formatExplanation(e))
  return 0
}

function help(text: string): number {
  process.stdout.write(text)
  return 0
}

/** Runs the command in argv; resolves with the exit code, or null while the gateway keeps running. */
export async function runCli(argv: string[]): Promise<number | null> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'start':
        return await start(rest)
      case 'validate':
        return await validate(rest)
      case 'revoke':
        return await revoke(rest)
      case 'upgrade': {
        const v = parse(rest, { pid: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } })
        if (v.help === true) return help(UPGRADE_USAGE)
        if (v.pid === undefined || !/^\d+$/.test(v.pid)) throw new UsageError('upgrade needs --pid <primary pid>')
        const { upgradeCommand } = await import('./upgrade.js')
        return await upgradeCommand(Number(v.pid), v.timeout)
      }
      case 'config':
        return await config(rest)
      case 'explain':
        return await explain(rest)
      case 'migrate':
        return await migrate(rest)
      case '-h':
      case '--help':
      case 'help':
        return help(MAIN_USAGE)
      case '-v':
      case '--version':
        process.stdout.write(`${PORTICO_VERSION}\n`)
        return 0
      case undefined:
        process.stderr.write(MAIN_USAGE)
        return 2
      default:
        throw new UsageError(command.startsWith('-') ? `unknown option '${command}'` : `unknown command '${command}'`)
    }
  } catch (err) {
    // A user plugin that cannot be loaded (plugins/user.ts): its message names the module and why;
    // a stack trace would only point into the loader. Matched by name so the CLI need not import it.
    if (err instanceof Error && err.name === 'UserPluginError') {
      process.stderr.write(`portico: ${err.message}\n`)
      return 1
    }
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`portico: ${err.message}\nRun 'portico --help' for usage.\n`)
    return 2
  }
}

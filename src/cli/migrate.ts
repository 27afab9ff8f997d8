// `portico migrate file-to-etcd`: seeds a config center's etcd prefix from a config file, for a
// fleet moving from files to etcd. The file is validated as `portico validate` does (errors with
// file:line:column); its routes, upstreams, consumers and global plugins are then written as
// written (${ENV} references stay references, resolved by each instance) to the etcd named by a
// bootstrap file's `config_center.etcd` (the file the instances will start with: same endpoints,
// prefix, auth and secret key), in transactions small enough for etcd's --max-txn-ops
// (sources/etcd.ts EtcdSource.seed). A later change goes through the admin API or `config apply`.
import pino from 'pino'
import { formatErrors } from '../config/errors.js'
import { loadConfigFile } from '../config/load.js'
import { INSTALLED_CHECKS } from '../snapshot/installed-checks.js'
import { configCenterSource } from '../control/sources/center.js'
import { EtcdSource } from '../control/sources/etcd.js'
import { readDocumentAsWritten } from '../control/admin/authority.js'
import { KINDS } from '../control/admin/resources.js'

export class MigrateUsageError extends Error {}

export interface MigrateArgs {
  direction: string | undefined
  config: string | undefined
  to: string | undefined
  force?: boolean | undefined
  dryRun?: boolean | undefined
}

export interface Output {
  out(text: string): void
  err(text: string): void
}

const STDIO: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }

export async function migrateCommand(a: MigrateArgs, io: Output = STDIO): Promise<number> {
  if (a.direction !== 'file-to-etcd') {
    throw new MigrateUsageError(a.direction === undefined ? 'migrate needs a direction: file-to-etcd' : `unknown migration '${a.direction}' (there is file-to-etcd)`)
  }
  if (a.config === undefined) throw new MigrateUsageError('migrate file-to-etcd needs -c <file>, the config file to migrate')
  if (a.to === undefined) throw new MigrateUsageError('migrate file-to-etcd needs --to <bootstrap file>, the config the instances start with (its config_center.etcd names the etcd)')
  const checked = await loadConfigFile(a.config, { checks: INSTALLED_CHECKS })
  if (!checked.ok) {
    io.err(formatErrors(checked.errors) + '\n')
    io.err(`${a.config}: ${checked.errors.length} error${checked.errors.length === 1 ? '' : 's'}; nothing was written\n`)
    return 1
  }
  const bootstrap = await loadConfigFile(a.to, { checks: INSTALLED_CHECKS })
  if (!bootstrap.ok) {
    io.err(formatErrors(bootstrap.errors) + '\n')
    return 1
  }
  const logger = pino({ level: 'silent' })
  const source = await configCenterSource(bootstrap.config, a.to, logger)
  if (!(source instanceof EtcdSource)) {
    io.err(`${a.to}: has no config_center.etcd; migrate file-to-etcd writes to the etcd the instances read\n`)
    await source?.close()
    return 1
  }
  try {
    const doc = await readDocumentAsWritten(a.config)
    const skipped = Object.keys(doc).filter((k) => !(KINDS as readonly string[]).includes(k))
    const r = await source.seed(doc, { force: a.force === true, dryRun: a.dryRun === true })
    const summary = KINDS.map((k) => `${r.counts[k]} ${k}`).join(', ')
    if (!r.ok) {
      for (const e of r.errors) io.err(`${e.path === '' ? '' : `${e.path}: `}${e.message}\n`)
      if (r.written > 0) io.err(`written before it stopped: ${r.written} resources in ${r.transactions} transaction(s)\n`)
      return 1
    }
    if (skipped.length > 0) io.out(`settings not migrated (they stay in the bootstrap file): ${skipped.join(', ')}\n`)
    if (a.dryRun === true) io.out(`dry run: would write ${summary} to ${source.prefix}${r.existing > 0 ? ` (overwriting; it holds ${r.existing} resources)` : ''}\n`)
    else io.out(`migrated ${summary} to ${source.prefix} in ${r.transactions} transaction(s)\n`)
    return 0
  } finally {
    await source.close()
  }
}

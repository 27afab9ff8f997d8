// An in-process gateway (data plane only) for integration tests: config from YAML text through
// the real loader, listening on a free loopback port, drained on close.
import type { AddressInfo } from 'node:net'
import YAML from 'yaml'
import type { Config } from '../../src/config/schema/index.js'
import type { PluginDefinition } from '../../src/plugins/contract.js'
import { loadConfigText } from '../../src/config/load.js'
import { formatErrors } from '../../src/config/errors.js'
import { createDataPlane, type DataPlane } from '../../src/dataplane/data-plane.js'
import { createLogger } from '../../src/observability/logger.js'
import { INSTALLED_CHECKS } from '../../src/snapshot/installed-checks.js'

export interface InProcGateway {
  url: string
  port: number
  dp: DataPlane
  /** Loads new YAML into the running gateway (a reload); throws with formatted errors when invalid. */
  reload(yaml: string): Promise<void>
  close(): Promise<void>
}

let version = 0

/** For test-only plugins the loader does not know: parse YAML without validating. */
function parseUnchecked(yaml: string) {
  return { config: YAML.parse(yaml) as Config, hash: 'unchecked' }
}

function parse(yaml: string) {
  const r = loadConfigText(yaml, 'test.yaml', { checks: INSTALLED_CHECKS })
  if (!r.ok) throw new Error(`test config invalid:\n${formatErrors(r.errors)}`)
  return r
}

/**
 * `yaml` is a full config document; `server.listen` defaults to 127.0.0.1:0 and the access log to
 * off unless the document sets them.
 */
export async function startInProc(yaml: string, opts: { plugins?: ReadonlyMap<string, PluginDefinition> } = {}): Promise<InProcGateway> {
  const withDefaults = /^server:/m.test(yaml) ? yaml : `server:\n  listen: 127.0.0.1:0\n${yaml}`
  const full = /^log:/m.test(withDefaults) ? withDefaults : `${withDefaults}\nlog: { level: silent, access_log: false }\n`
  const r = opts.plugins === undefined ? parse(full) : parseUnchecked(full)
  const dp = createDataPlane({ plugins: opts.plugins, logger: createLogger(process.env.TEST_LOG_LEVEL === undefined ? 'silent' : (process.env.TEST_LOG_LEVEL as 'info')) })
  await dp.load(r.config, { version: ++version, hash: r.hash })
  const addr: AddressInfo = await dp.listen()
  return {
    url: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    dp,
    async reload(next: string) {
      const n = parse(/^server:/m.test(next) ? next : `server:\n  listen: 127.0.0.1:0\n${next}\nlog: { level: silent, access_log: false }\n`)
      await dp.load(n.config, { version: ++version, hash: n.hash })
    },
    close: () => dp.drain(1000),
  }
}

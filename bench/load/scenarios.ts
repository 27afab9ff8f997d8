// Benchmark scenarios are data. A scenario says what Portico is configured to do and what the load
// sends; the baselines (floor, nginx, peers) always proxy plainly to the first origin, so each
// scenario reads as "what this feature costs on top of the plain proxy".
// Adding one (3 targets with health checks, jwt, rate limit, ...) means adding an entry here.
import type { Config } from '../../src/config/schema/index.js'

export interface ScenarioPorts {
  /** Portico's data-plane port. */
  port: number
  adminPort: number
  /** Base URLs of the scenario's origins (http://127.0.0.1:PORT). */
  origins: string[]
}

export interface Scenario {
  name: string
  description: string
  /** How many identical origins to start (all on the load core). */
  origins: number
  /** Request path and extra headers every load tool sends. */
  path: string
  headers: Record<string, string>
  gatewayConfig(p: ScenarioPorts): Config
}

const base = (p: ScenarioPorts): Pick<Config, 'server' | 'admin' | 'workers' | 'log'> => ({
  server: { listen: `127.0.0.1:${p.port}` },
  admin: { listen: `127.0.0.1:${p.adminPort}` },
  // One worker in one process (--no-cluster): the figures are per core.
  workers: 1,
  log: { level: 'warn', access_log: true },
})

export const scenarios: Scenario[] = [
  {
    name: 'plain',
    description: 'one route /* to one origin, no plugins, access log on',
    origins: 1,
    path: '/bench',
    headers: {},
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [{ name: 'all', paths: ['/*'], upstream: 'origin' }],
    }),
  },
]

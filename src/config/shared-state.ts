// Plugins whose state a user assumes is the gateway's, not one instance's: without store.redis it
// is shared by the workers of one instance only (state/instance.ts), so several instances behind
// one load balancer each keep their own. `validate` prints these and `start` logs them, so the
// choice is made knowingly (issue 11 item 5). Plugins that cannot work at all without Redis
// (rate-limit policy redis, cache tier2) are errors in validation instead.
import type { Config } from './schema/index.js'

const PER_INSTANCE: Record<string, string> = {
  'hmac-auth': 'replay nonces are remembered by this instance only: a signed request replayed to another instance behind the same load balancer is accepted again',
  'jwt-revocation': 'revocations reach this instance only (POST /admin/revocations answers 409 without a shared store)',
}

/** One line per plugin whose shared state stays in this instance, or none with store.redis. */
export function sharedStateWarnings(config: Config): string[] {
  if (config.store?.redis !== undefined) return []
  const used = new Set<string>()
  for (const use of config.plugins ?? []) if (use.enabled !== false) used.add(use.name)
  for (const r of config.routes ?? []) for (const use of r.plugins ?? []) if (use.enabled !== false) used.add(use.name)
  for (const c of config.consumers ?? []) for (const use of c.plugins ?? []) if (use.enabled !== false) used.add(use.name)
  const out: string[] = []
  for (const [name, what] of Object.entries(PER_INSTANCE)) {
    if (used.has(name)) out.push(`${name} without store.redis: ${what}; set store.redis when more than one instance serves this config`)
  }
  return out
}

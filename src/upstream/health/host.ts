// What the health checkers need from their cluster.
import type { Logger } from 'pino'
import type { Target } from '../target.js'

export interface HealthHost {
  /** Upstream name, for logs and metrics. */
  readonly name: string
  readonly targets: readonly Target[]
  readonly logger: Logger | undefined
  /** A target's `healthy` or `ejectedUntil` changed: rebuild the balancer's set, update gauges. */
  availabilityChanged(): void
}

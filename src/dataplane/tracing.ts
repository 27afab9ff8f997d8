// Tracing lives with the process, not with a Snapshot: rebuilt only when its config changes, so a
// reload does not drop spans being exported. OpenTelemetry is loaded only when tracing is on.
import type { Logger } from 'pino'
import type { Config } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import type { Tracing } from '../observability/tracing.js'
import { PORTICO_VERSION } from '../core/version.js'

export class TracingLifecycle {
  current: Tracing | null = null
  /** The tracing config the current Tracing was made from. */
  #key = 'null'
  readonly #logger: Logger

  constructor(logger: Logger) {
    this.#logger = logger
  }

  /** Makes `current` match `config.tracing`; the replaced Tracing flushes and shuts down in the background. */
  async apply(config: Config): Promise<void> {
    const t = config.tracing
    const on = t !== undefined && t.enabled !== false
    const key = on ? JSON.stringify(t) : 'null'
    if (key === this.#key) return
    this.#key = key
    const old = this.current
    const { Tracing } = on ? await import('../observability/tracing.js') : { Tracing: null }
    this.current =
      Tracing !== null && on
        ? new Tracing(
            {
              serviceName: t.service_name ?? 'portico',
              sampleRatio: t.sample_ratio ?? 0.1,
              endpoint: t.otlp.endpoint,
              headers: t.otlp.headers ?? {},
              timeoutMs: parseDuration(t.otlp.timeout ?? '5s'),
              b3: (t.propagators ?? []).includes('b3'),
              pluginEvents: t.plugin_events ?? false,
            },
            PORTICO_VERSION,
            this.#logger,
          )
        : null
    if (old !== null) void old.shutdown().catch(() => undefined)
  }

  async close(): Promise<void> {
    if (this.current !== null) await this.current.shutdown().catch(() => undefined)
  }
}

// Drives one DataPlane for the control plane: the first load also binds the listener, later
// loads only swap Snapshots, drain happens once. Used by a cluster worker (worker.ts) and by
// single-process mode (single.ts), so both modes load and drain the same way.
import type { Logger } from 'pino'
import { createDataPlane, type DataPlane } from '../dataplane/data-plane.js'
import type { Store } from '../state/store.js'
import type { ConfigDoc } from './ipc.js'

let rejectionsHandled = false

/**
 * A promise nobody awaited that rejects (a plugin's fire-and-forget call, typically) is logged, not
 * fatal: Node's default would end the process and every request in flight on it for one forgotten
 * `.catch`. A rejection leaves no half-done state behind the way a thrown exception can, so the
 * process goes on serving; an uncaught exception still ends it (the primary starts a new worker).
 */
function keepServingOnUnhandledRejection(logger: Logger): void {
  if (rejectionsHandled) return
  rejectionsHandled = true
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection (a plugin or the gateway did not handle an error); still serving')
  })
}

export class DataPlaneHost {
  readonly plane: DataPlane
  #listening = false
  #drained: Promise<void> | null = null
  /** Loads run one after another: a second load must not race the first one's listen(). */
  #queue: Promise<unknown> = Promise.resolve()

  constructor(logger: Logger, instanceStore?: Store) {
    this.plane = createDataPlane({ logger, ...(instanceStore === undefined ? {} : { instanceStore }) })
    keepServingOnUnhandledRejection(logger)
  }

  get listening(): boolean {
    return this.#listening
  }

  /** Compile and swap `doc`; binds the listener on the first successful load. Rejects with the compile/listen error. */
  load(doc: ConfigDoc): Promise<void> {
    const run = async () => {
      if (this.#drained !== null) throw new Error('draining: config not applied')
      await this.plane.load(doc.config, { version: doc.version, hash: doc.hash })
      if (!this.#listening) {
        await this.plane.listen()
        this.#listening = true
      }
    }
    const p = this.#queue.then(run)
    this.#queue = p.catch(() => undefined)
    return p
  }

  /** Idempotent: a second drain request waits for the first. */
  drain(timeoutMs: number): Promise<void> {
    this.#drained ??= this.plane.drain(timeoutMs)
    return this.#drained
  }
}

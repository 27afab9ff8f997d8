// A data-plane worker under node:cluster. It never reads the config file: the primary sends the
// validated document over IPC, and the worker compiles, swaps and serves it. Metrics requests are
// answered from this process's registry so the primary can aggregate them.
import cluster from 'node:cluster'
import type { LevelWithSilent } from 'pino'
import { createLogger } from '../observability/logger.js'
import { enableProcessMetrics, registry } from '../observability/metrics.js'
import { parseDuration } from '../config/units.js'
import { DataPlaneHost } from './host.js'
import { CALL_TIMEOUT_MS, InstanceStore } from '../state/instance.js'
import { StoreTimeoutError, StoreUnavailableError } from '../state/store.js'
import { isToWorker, type FromWorker, type ToWorker } from './ipc.js'
import { runPluginCommand } from '../plugins/commands.js'

const DEFAULT_DRAIN = '30s'

export function runWorker(): void {
  const logger = createLogger('info', { pid: process.pid, role: 'worker', worker: cluster.worker?.id ?? 0 })
  enableProcessMetrics()
  // Key calls on the instance's shared memory Store go to the primary (state/instance.ts).
  const storeCalls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  let storeCallId = 0
  const instanceStore = new InstanceStore({
    call: (op, args) =>
      new Promise((resolve, reject) => {
        if (!process.connected || process.send === undefined) return reject(new StoreUnavailableError('the primary is gone'))
        const id = ++storeCallId
        const timer = setTimeout(() => {
          storeCalls.delete(id)
          reject(new StoreTimeoutError(`the primary did not answer ${op} within ${CALL_TIMEOUT_MS}ms`))
        }, CALL_TIMEOUT_MS)
        storeCalls.set(id, {
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        })
        process.send({ type: 'store_call', id, op, args } satisfies FromWorker)
      }),
    publish: (channel, message) =>
      new Promise((resolve, reject) => {
        if (!process.connected || process.send === undefined) return reject(new StoreUnavailableError('the primary is gone'))
        process.send({ type: 'store_publish', channel, message } satisfies FromWorker, undefined, {}, (err) => (err ? reject(new StoreUnavailableError(err.message)) : resolve()))
      }),
  })
  const host = new DataPlaneHost(logger, instanceStore)
  let drainTimeoutMs = parseDuration(DEFAULT_DRAIN)

  const send = (msg: FromWorker, then?: () => void) => {
    if (!process.connected || process.send === undefined) return then?.()
    process.send(msg, undefined, {}, () => then?.())
  }

  const drainAndExit = (timeoutMs: number, why: string) => {
    logger.info({ timeout_ms: timeoutMs, why }, 'worker draining')
    host.drain(timeoutMs).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'drain failed')
        process.exit(1)
      },
    )
  }

  const onLoad = async (msg: Extract<ToWorker, { type: 'load' }>) => {
    const first = !host.listening
    try {
      await host.load(msg)
      logger.level = (msg.config.log?.level ?? 'info') as LevelWithSilent
      drainTimeoutMs = parseDuration(msg.config.server?.drain_timeout ?? DEFAULT_DRAIN)
      send({ type: 'loaded', version: msg.version })
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      logger.error({ version: msg.version, err }, first ? 'worker could not start' : 'config version rejected by worker; previous Snapshot keeps serving')
      // A worker without a Snapshot is useless: exit non-zero and let the supervisor decide
      // (give up at startup, restart with backoff later on the current document).
      send({ type: 'load_failed', version: msg.version, error }, first ? () => process.exit(1) : undefined)
    }
  }

  process.on('message', (msg: unknown) => {
    if (!isToWorker(msg)) return
    switch (msg.type) {
      case 'load':
        void onLoad(msg)
        break
      case 'drain':
        drainAndExit(msg.timeout_ms, 'primary asked')
        break
      case 'plugin_command': {
        const { id, plugin, command } = msg
        runPluginCommand(plugin, command, msg.args, msg.first).then(
          (counts) => send({ type: 'plugin_answer', id, counts }),
          (err: unknown) => {
            logger.warn({ err, plugin, command }, 'plugin command failed')
            send({ type: 'plugin_answer', id, counts: {}, error: err instanceof Error ? err.message : String(err) })
          },
        )
        break
      }
      case 'store_result': {
        const call = storeCalls.get(msg.id)
        if (call === undefined) break // answered after the caller's deadline
        storeCalls.delete(msg.id)
        if (msg.ok) call.resolve(msg.value)
        else call.reject(new StoreUnavailableError(msg.error ?? 'store call failed'))
        break
      }
      case 'store_message':
        instanceStore.deliver(msg.channel, msg.message)
        break
      case 'status_req':
        send({ type: 'status', id: msg.id, status: host.plane.status() })
        break
      case 'metrics_req':
        registry.getMetricsAsJSON().then(
          (metrics) => send({ type: 'metrics', id: msg.id, metrics }),
          (err: unknown) => logger.warn({ err }, 'metrics collection failed'),
        )
        break
    }
  })
  // Ctrl-C in a terminal signals the whole process group: drain like the primary will ask us to,
  // instead of dying with requests in flight.
  process.on('SIGTERM', () => drainAndExit(drainTimeoutMs, 'SIGTERM'))
  process.on('SIGINT', () => drainAndExit(drainTimeoutMs, 'SIGINT'))
  // The primary is gone (crashed or killed): nobody supervises or reloads us any more, but the
  // connections we already hold are still served to the end. node:cluster's own 'disconnect'
  // handler would exit at once with those requests in flight unless the disconnect counts as
  // expected; it reads this flag, which nothing else in the worker uses (the primary keeps its
  // own copy to tell a crash from a planned exit).
  if (cluster.worker) cluster.worker.exitedAfterDisconnect = true
  process.on('disconnect', () => drainAndExit(drainTimeoutMs, 'primary disconnected'))

  send({ type: 'hello' })
}

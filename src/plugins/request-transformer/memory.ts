// Giving back the heap a large JSON body took. JSON.parse of a body builds several times its size
// of short-lived heap (docs/plugins/request-transformer.md lists the factors); V8 frees it only at
// its next full collection, which a worker serving small requests may not reach for minutes.
// Measured on Node 20 (a 41 MB array of small objects, parsed, edited and serialized): after 12 s
// of small allocations the heap still held 318 MB and RSS stayed at 470 MB; one full collection
// took 31 ms and brought RSS from 370 MB to 113 MB. So after a large body, one collection runs once
// the worker has parsed nothing large for a second, and at most one every five seconds: a 31 ms
// pause now and then on a worker that chose to parse 40 MB bodies, instead of holding the memory.
//
// `gc` comes from a fresh VM context after `--expose-gc` is set at run time (the documented way
// to reach it without a command-line flag): it is never put on the process's own global object.
import v8 from 'node:v8'
import vm from 'node:vm'

/** Bodies at least this large ask for a collection after they are done with. */
export const LARGE_BODY_BYTES = 4 * 1024 * 1024
const QUIET_MS = 1000
const MIN_INTERVAL_MS = 5000

let collect: (() => void) | null | undefined
let timer: NodeJS.Timeout | null = null
let lastLarge = 0
let lastCollection = 0
/** Collections run (for tests and /status-like introspection). */
export let collections = 0

function collector(): (() => void) | null {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc')
      const gc = vm.runInNewContext('gc') as unknown
      collect = typeof gc === 'function' ? (gc as () => void) : null
    } catch {
      collect = null
    }
  }
  return collect
}

function fire(): void {
  timer = null
  const now = Date.now()
  const wait = Math.max(lastLarge + QUIET_MS, lastCollection + MIN_INTERVAL_MS) - now
  if (wait > 0) return schedule(wait)
  lastCollection = now
  collections++
  collector()?.()
}

function schedule(ms: number): void {
  timer = setTimeout(fire, ms)
  timer.unref()
}

/** A body of `bytes` was just parsed: collect its garbage soon, once large bodies have paused. */
export function parsedBody(bytes: number): void {
  if (bytes < LARGE_BODY_BYTES) return
  lastLarge = Date.now()
  if (timer === null) schedule(QUIET_MS)
}

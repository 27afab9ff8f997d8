// node-zookeeper-client, loaded once, with its one known way of killing the process disarmed.
// Its socket 'data' handler throws when a reply does not parse ("Unknown code: 364052480", seen
// here right after a ZooKeeper restart; upstream alexguan/node-zookeeper-client#23, #39, #70,
// open for years). The throw happens inside an event handler, so no caller can catch it: it took
// down the gateway's primary (config source) or a worker (discovery). The handler is wrapped on
// the prototype before any client connects (it is bound per socket at connect): a reply that does
// not parse means the stream is out of step, so that connection is dropped and the client
// reconnects as it does after any lost connection; the session and its watches carry over or
// expire as ZooKeeper decides. Used by the discovery and by the config source (control/sources).
import { createRequire } from 'node:module'

export type Zk = typeof import('node-zookeeper-client')

interface ConnectionManagerProto {
  onSocketData(this: { socket?: { destroy(): void } | null; pendingBuffer?: Buffer | null }, buffer: Buffer): void
}

/**
 * How long a connection attempt may go without a session before a new client is tried: doubling
 * with each attempt in a row that stalled (`stalls`), from 3 s (or twice the connect timeout) up
 * to the session timeout. A server that just started, preallocating its transaction log on a busy
 * disk, can take longer than 3 s to grant one, and cutting every attempt at 3 s never let one finish.
 */
export function stallDeadlineMs(stalls: number, timeoutMs: number, sessionTimeoutMs: number): number {
  return Math.max(2 * timeoutMs, Math.min(3000 * 2 ** Math.min(stalls, 4), sessionTimeoutMs), 3000)
}

/** Parse failures caught (they would each have been a crash). */
export let unparsableReplies = 0

let loaded: Promise<Zk> | undefined

export function loadZookeeperClient(): Promise<Zk> {
  loaded ??= import('node-zookeeper-client').then((m) => {
    disarm()
    return (m as { default?: Zk }).default ?? m
  })
  return loaded
}

function disarm(): void {
  const require = createRequire(import.meta.url)
  const proto = (require('node-zookeeper-client/lib/ConnectionManager.js') as { prototype: ConnectionManagerProto }).prototype
  const original = proto.onSocketData
  proto.onSocketData = function onSocketDataGuarded(buffer) {
    try {
      original.call(this, buffer)
    } catch {
      unparsableReplies++
      this.pendingBuffer = null
      // 'close' follows; the library's own close handler reconnects.
      this.socket?.destroy()
    }
  }
}

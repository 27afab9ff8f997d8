// The listening sockets of the data plane when the control plane owns them (`portico start
// --handoff`, for in-place upgrades; see control/handoff.ts): instead of binding each listener's
// address itself, the data plane listens on socket handles the primary bound once and can pass to
// the next version's primary. A cluster worker asks its primary for each handle over IPC (the
// worker gets its own descriptor of the one socket, so its close never closes anybody else's); in
// single-process mode the primary hands them over in-process.
import cluster from 'node:cluster'

/** Set in the environment of cluster workers whose primary owns the listening sockets. */
export const HANDOFF_ENV = 'PORTICO_HANDOFF'
export const HANDLE_REQUEST = 'portico:listen_handle?'
export const HANDLE_REPLY = 'portico:listen_handle'
const ASK_TIMEOUT_MS = 30_000

let provided: readonly object[] | null = null

/** Single-process mode: the socket handles this process's data plane listens on, in listener order. */
export function provideListenHandles(handles: readonly object[]): void {
  provided = handles
}

function ask(index: number): Promise<object> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: unknown, handle: unknown) => {
      const m = msg as { type?: unknown; index?: unknown } | null
      if (m?.type !== HANDLE_REPLY || m.index !== index) return
      done()
      if (typeof handle === 'object' && handle !== null) resolve(handle)
      else reject(new Error(`the primary sent no listening socket for listener ${index}${typeof m === 'object' && 'error' in m ? `: ${String((m as { error: unknown }).error)}` : ''}`))
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`the primary did not send listening socket ${index} within ${ASK_TIMEOUT_MS}ms`))
    }, ASK_TIMEOUT_MS)
    const done = () => {
      clearTimeout(timer)
      process.off('message', onMessage)
    }
    process.on('message', onMessage)
    process.send!({ type: HANDLE_REQUEST, index })
  })
}

/** The handles to listen on (one per listener, in order), or null to bind the addresses as usual. */
export async function listenHandles(count: number): Promise<readonly object[] | null> {
  if (provided !== null) {
    if (provided.length !== count) throw new Error(`the primary owns ${provided.length} listening sockets, the config has ${count} listeners`)
    return provided
  }
  if (process.env[HANDOFF_ENV] !== '1' || !cluster.isWorker || process.send === undefined) return null
  const handles: object[] = []
  // One at a time: a message carries one handle.
  for (let i = 0; i < count; i++) handles.push(await ask(i))
  return handles
}

// The listening socket of the data plane when the control plane owns it (`portico start
// --handoff`, for in-place upgrades; see control/handoff.ts): instead of binding server.listen
// itself, the data plane listens on a socket handle the primary bound once and can pass to the
// next version's primary. A cluster worker asks its primary for the handle over IPC (the worker
// gets its own descriptor of the one socket, so its close never closes anybody else's); in
// single-process mode the primary hands it over in-process.
import cluster from 'node:cluster'

/** Set in the environment of cluster workers whose primary owns the listening socket. */
export const HANDOFF_ENV = 'PORTICO_HANDOFF'
export const HANDLE_REQUEST = 'portico:listen_handle?'
export const HANDLE_REPLY = 'portico:listen_handle'
const ASK_TIMEOUT_MS = 10_000

let provided: object | null = null

/** Single-process mode: the socket handle this process's data plane listens on. */
export function provideListenHandle(handle: object): void {
  provided = handle
}

/** The handle to listen on, or null to bind server.listen as usual. */
export function listenHandle(): Promise<object | null> {
  if (provided !== null) return Promise.resolve(provided)
  if (process.env[HANDOFF_ENV] !== '1' || !cluster.isWorker || process.send === undefined) return Promise.resolve(null)
  return new Promise((resolve, reject) => {
    const onMessage = (msg: unknown, handle: unknown) => {
      if ((msg as { type?: unknown } | null)?.type !== HANDLE_REPLY) return
      done()
      if (typeof handle === 'object' && handle !== null) resolve(handle)
      else reject(new Error('the primary sent no listening socket'))
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`the primary did not send the listening socket within ${ASK_TIMEOUT_MS}ms`))
    }, ASK_TIMEOUT_MS)
    const done = () => {
      clearTimeout(timer)
      process.off('message', onMessage)
    }
    process.on('message', onMessage)
    process.send!({ type: HANDLE_REQUEST })
  })
}

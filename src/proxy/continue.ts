// `Expect: 100-continue` answered only once the request is admitted. Node sends `100 Continue` by
// itself before the handler runs unless the server has a 'checkContinue' listener; then a client
// refused by an access plugin (401/403/429) would upload its body for nothing. The listeners route
// such requests here: the 100 goes out when the body is first needed (the proxy sends it upstream,
// or a body-reading plugin needs it before the access phase), and a request answered without it
// closes its connection, since the client may or may not send the body now (RFC 9110 §10.1.1).
import type { IncomingMessage, ServerResponse } from 'node:http'

/** Responses of requests that expect a 100 not sent yet, with their keep-alive to restore. */
const awaiting = new WeakMap<ServerResponse, boolean>()

/** The 'checkContinue' listener: the request goes to `handler` without a 100 sent. */
export function checkContinue(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    awaiting.set(res, res.shouldKeepAlive)
    res.shouldKeepAlive = false
    handler(req, res)
  }
}

/** The request's body is about to be read: send the 100 it waits for, if it waits for one. */
export function sendContinue(req: IncomingMessage, res: ServerResponse): void {
  if (req.headers.expect === undefined) return
  const keepAlive = awaiting.get(res)
  if (keepAlive === undefined || res.headersSent) return
  awaiting.delete(res)
  res.shouldKeepAlive = keepAlive
  res.writeContinue()
}

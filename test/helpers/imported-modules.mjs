// Child-process helper: imports the module given as argv[2] and prints, one per line, the URL of
// every module its graph resolved (static and top-level imports alike). Run it as
// `node --import tsx test/helpers/imported-modules.mjs <file>`; a module-loader hook sees what a
// process really loads, which no in-process test can once the test itself imported more.
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'
import { pathToFileURL } from 'node:url'

const { port1, port2 } = new MessageChannel()
const seen = new Set()
port1.on('message', (url) => seen.add(url))
const hook = `let port
export function initialize(data) { port = data.port }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  port.postMessage(r.url)
  return r
}`
register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { port: port2 }, transferList: [port2] })
await import(pathToFileURL(process.argv[2]).href)
// The hook thread posts asynchronously: let its last messages arrive.
await new Promise((resolve) => setTimeout(resolve, 200))
port1.close()
process.stdout.write([...seen].join('\n') + '\n')

// The web console's static files (built from ui/ into dist/ui/ by `npm run build`), served by the
// admin listener at /ui. Only files listed when the listener starts are served: the URL is looked
// up in that list and never joined onto a filesystem path, so no spelling of "..", encoded or not,
// can name a file outside dist/ui. The console holds no secret (the token is typed in by the
// operator and sent by its scripts as a header), so the files need no token; every API call does.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import type http from 'node:http'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** dist/ui, from src/control/admin (tsx) and dist/control/admin (compiled) alike. */
export const CONSOLE_ROOT = fileURLToPath(new URL('../../../dist/ui/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

/**
 * No inline script or style, nothing from another origin, no framing, no plugins, no <base>, no
 * form posts: the console's scripts come from /ui/assets and talk only to this listener.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const SECURITY_HEADERS: http.OutgoingHttpHeaders = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
}

interface Asset {
  body: Buffer
  type: string
  /** Vite names built assets by content hash: they never change, so browsers keep them. */
  immutable: boolean
}

function listFiles(root: string): Map<string, Asset> {
  const out = new Map<string, Asset>()
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else if (st.isFile()) {
        const rel = relative(root, p).split(sep).join('/')
        out.set(rel, { body: readFileSync(p), type: TYPES[extname(name)] ?? 'application/octet-stream', immutable: rel.startsWith('assets/') })
      }
    }
  }
  try {
    walk(root)
  } catch {
    // Not built (a checkout where `npm run build` has not run): /ui answers 404 with how to build it.
  }
  return out
}

export interface ConsoleFiles {
  /** Answers a GET/HEAD under /ui; false when the path is not under /ui. */
  serve(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean
}

export function consoleFiles(root = CONSOLE_ROOT): ConsoleFiles {
  const files = listFiles(root)
  const send = (res: http.ServerResponse, status: number, type: string, body: Buffer | string, extra: http.OutgoingHttpHeaders, head: boolean) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra })
    res.end(head ? undefined : body)
  }
  const notFound = (res: http.ServerResponse, head: boolean, message: string) =>
    send(res, 404, 'application/json', JSON.stringify({ status: 404, error: 'route_not_found', message }), { 'cache-control': 'no-store' }, head)
  return {
    serve(req, res, path) {
      if (path !== '/ui' && !path.startsWith('/ui/')) return false
      const head = req.method === 'HEAD'
      if (req.method !== 'GET' && !head) {
        send(res, 405, 'application/json', JSON.stringify({ status: 405, error: 'method_not_allowed', message: `${req.method} is not allowed on ${path}` }), { allow: 'GET, HEAD', 'cache-control': 'no-store' }, false)
        return true
      }
      // The one redirect: /ui → /ui/, so the page's relative asset URLs resolve under /ui/.
      if (path === '/ui') {
        res.writeHead(308, { ...SECURITY_HEADERS, location: '/ui/', 'content-length': 0, 'cache-control': 'no-store' })
        res.end()
        return true
      }
      const rel = path === '/ui/' ? 'index.html' : path.slice('/ui/'.length)
      const file = files.get(rel)
      if (file === undefined) {
        notFound(res, head, files.size === 0 ? 'the console is not built: run `npm run build` (it builds ui/ into dist/ui/)' : `no console file ${path}`)
        return true
      }
      const cache = file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache'
      send(res, 200, file.type, file.body, { 'cache-control': cache }, head)
      return true
    },
  }
}

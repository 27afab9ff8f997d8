// A stand-in for Apollo's config service, the subset a client uses. Apollo (a Java service with a
// MySQL database) is not installable here, so this implements, from the API docs
// (https://www.apolloconfig.com/#/en/client/other-language-client-user-guide):
// - GET /configs/{appId}/{cluster}/{namespace}?releaseKey=… → 200 {appId, cluster, namespaceName,
//   configurations, releaseKey}; 304 when releaseKey is the current release; 404 for an unknown
//   app / cluster / namespace;
// - GET /notifications/v2?appId=…&cluster=…&notifications=[{namespaceName, notificationId}] → 200
//   [{namespaceName, notificationId, messages}] at once when a namespace's notificationId is past
//   the client's (-1 always is), else held until a release or `holdMs` (Apollo: 60 s) → 304;
// - access keys: with a secret set, every request needs Timestamp (ms, within 60 s of now) and
//   Authorization: Apollo <appId>:<Base64(HMAC-SHA1(secret, timestamp + "\n" + path?query))>, else 401.
// Namespaces are released with publish(); a release moves its notificationId on and wakes the polls.
import { createHmac } from 'node:crypto'
import { json, standIn, type StandIn } from './registry-server.js'

export interface ApolloStandIn extends StandIn {
  /** Releases a namespace: new releaseKey, notificationId + 1, held polls answer. */
  publish(namespace: string, configurations: Record<string, string>): void
  /** Access key secret of the app; undefined = no signature required. */
  secret: string | undefined
  /** How long a notifications poll is held when nothing changes. */
  holdMs: number
  /** Notification polls answered 304 (held to the end). */
  polls304: number
  /** Config fetches answered (200 or 304). */
  fetches: number
}

export async function startApollo(opts: { appId: string; cluster?: string; secret?: string; holdMs?: number }): Promise<ApolloStandIn> {
  const cluster = opts.cluster ?? 'default'
  const namespaces = new Map<string, { configurations: Record<string, string>; releaseKey: string; notificationId: number }>()
  const waiters = new Set<() => void>()
  let releases = 0
  let nextId = 100
  const base = await standIn(async (req, res, url) => {
    if (a.secret !== undefined) {
      const ts = String(req.headers.timestamp ?? '')
      const sig = createHmac('sha1', a.secret).update(`${ts}\n${req.url ?? ''}`).digest('base64')
      if (!/^\d+$/.test(ts) || Math.abs(Date.now() - Number(ts)) > 60_000 || req.headers.authorization !== `Apollo ${opts.appId}:${sig}`) {
        return json(res, 401, { status: 401, message: 'Unauthorized' })
      }
    }
    const m = /^\/configs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname)
    if (req.method === 'GET' && m !== null) {
      const [appId, cl, ns] = m.slice(1).map(decodeURIComponent) as [string, string, string]
      const n = namespaces.get(ns)
      if (appId !== opts.appId || cl !== cluster || n === undefined) return json(res, 404, { status: 404, message: `Could not load configurations with appId: ${appId}, clusterName: ${cl}, namespace: ${ns}` })
      a.fetches++
      if (url.searchParams.get('releaseKey') === n.releaseKey) {
        res.writeHead(304)
        return void res.end()
      }
      return json(res, 200, { appId, cluster: cl, namespaceName: ns, configurations: n.configurations, releaseKey: n.releaseKey })
    }
    if (req.method === 'GET' && url.pathname === '/notifications/v2') {
      if (url.searchParams.get('appId') !== opts.appId || url.searchParams.get('cluster') !== cluster) return json(res, 404, { status: 404, message: 'unknown app or cluster' })
      let wanted: Array<{ namespaceName: string; notificationId: number }>
      try {
        wanted = JSON.parse(url.searchParams.get('notifications') ?? '') as typeof wanted
      } catch {
        return json(res, 400, { status: 400, message: 'invalid notifications' })
      }
      const fresh = () =>
        wanted
          .map((w) => ({ w, n: namespaces.get(w.namespaceName) }))
          .filter(({ w, n }) => n !== undefined && n.notificationId > w.notificationId)
          .map(({ w, n }) => ({ namespaceName: w.namespaceName, notificationId: n!.notificationId, messages: { details: { [`${opts.appId}+${cluster}+${w.namespaceName}`]: n!.notificationId } } }))
      if (fresh().length === 0) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer)
            waiters.delete(check)
            a.onDown.delete(done)
            resolve()
          }
          const check = () => {
            if (fresh().length > 0) done()
          }
          const timer = setTimeout(done, a.holdMs)
          waiters.add(check)
          a.onDown.add(done)
          res.on('close', done)
        })
        if (res.destroyed) return
      }
      const list = fresh()
      if (list.length === 0) {
        a.polls304++
        res.writeHead(304)
        return void res.end()
      }
      return json(res, 200, list)
    }
    return json(res, 404, { status: 404, message: 'not found' })
  })
  const a: ApolloStandIn = Object.assign(base, {
    secret: opts.secret,
    holdMs: opts.holdMs ?? 60_000,
    polls304: 0,
    fetches: 0,
    publish(namespace: string, configurations: Record<string, string>) {
      namespaces.set(namespace, { configurations, releaseKey: `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}-${++releases}`, notificationId: ++nextId })
      for (const w of [...waiters]) w()
    },
  })
  return a
}

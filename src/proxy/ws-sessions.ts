// The open WebSocket sessions of one data plane: counts by route (max_connections, the
// portico_websocket_connections gauge, /status) and the set that a drain closes with 1001.
// Counted by route name, across Snapshots: after a reload a route's old sessions still hold their
// share of its limit.

/** What the registry needs of a session (proxy/ws-tunnel.ts WsSession). */
export interface ClosableSession {
  /** Ends the session from the gateway's side: a close frame `code` where the framing allows, else the sockets are cut. */
  shut(code: number, reason: string): void
}

export class WebSocketSessions {
  readonly #open = new Set<ClosableSession>()
  /** Route name → sessions counted against it (reserved at the handshake, released when the session ends). */
  readonly byRoute = new Map<string, number>()
  #idle: (() => void) | null = null

  get open(): number {
    return this.#open.size
  }

  count(route: string): number {
    return this.byRoute.get(route) ?? 0
  }

  /** Counts a handshake against its route from the moment it passed the limit check. */
  reserve(route: string): void {
    this.byRoute.set(route, this.count(route) + 1)
  }

  release(route: string): void {
    const n = this.count(route) - 1
    if (n > 0) this.byRoute.set(route, n)
    else this.byRoute.delete(route)
  }

  add(s: ClosableSession): void {
    this.#open.add(s)
  }

  delete(s: ClosableSession): void {
    this.#open.delete(s)
    if (this.#open.size === 0 && this.#idle !== null) this.#idle()
  }

  /**
   * Shuts every open session (drain timeout) and settles once they all closed, or after
   * `graceMs`: the close frames get that long to reach the clients before the sockets are cut.
   */
  async closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    if (this.#open.size === 0) return
    for (const s of [...this.#open]) s.shut(code, reason)
    if (this.#open.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      this.#idle = resolve
      timer = setTimeout(resolve, graceMs)
    })
    clearTimeout(timer)
    this.#idle = null
  }
}

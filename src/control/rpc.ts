// Ask the workers: one request/reply over IPC to a set of worker slots, with replies tracked per
// slot. An answer completes when every slot asked has answered or is gone, or at the timeout; a
// slot that was not asked, or already answered, changes nothing when it replies again or exits.
// (The three hand-written copies this replaces counted replies down instead: a worker that exited
// decremented every open request, so one could complete with replies still missing.)

/** One worker to ask: its slot number and how to send it a message. */
export interface RpcTarget<M> {
  readonly slot: number
  send(message: M): void
}

export interface RpcAnswer<R> {
  /** Replies by slot. */
  readonly replies: Map<number, R>
  /** Slots asked that did not answer (timed out or gone). */
  readonly missing: number[]
}

interface Pending<R> {
  readonly waiting: Set<number>
  /** Slots asked whose worker exited before answering. */
  readonly lost: number[]
  readonly replies: Map<number, R>
  finish(): void
}

export class WorkerRpc<M, R> {
  #nextId = 0
  readonly #pending = new Map<number, Pending<R>>()

  /**
   * Sends `message(id, position)` to every target and waits for their replies. Never rejects: the
   * caller decides what missing replies mean.
   */
  ask(targets: readonly RpcTarget<M>[], message: (id: number, position: number) => M, timeoutMs: number): Promise<RpcAnswer<R>> {
    const id = ++this.#nextId
    const replies = new Map<number, R>()
    if (targets.length === 0) return Promise.resolve({ replies, missing: [] })
    const waiting = new Set(targets.map((t) => t.slot))
    const lost: number[] = []
    return new Promise<RpcAnswer<R>>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer)
        this.#pending.delete(id)
        resolve({ replies, missing: [...lost, ...waiting] })
      }
      const timer = setTimeout(finish, timeoutMs)
      this.#pending.set(id, { waiting, lost, replies, finish })
      targets.forEach((t, i) => t.send(message(id, i)))
    })
  }

  /** Slot `slot` answered request `id`. Unknown ids, slots not asked and second answers are ignored. */
  answer(slot: number, id: number, reply: R): void {
    const p = this.#pending.get(id)
    if (p === undefined || !p.waiting.delete(slot)) return
    p.replies.set(slot, reply)
    if (p.waiting.size === 0) p.finish()
  }

  /** Slot `slot`'s worker exited: it answers nothing it was still asked. */
  gone(slot: number): void {
    for (const p of [...this.#pending.values()]) {
      if (!p.waiting.delete(slot)) continue
      p.lost.push(slot)
      if (p.waiting.size === 0) p.finish()
    }
  }

  /** Requests still waiting (for tests and leak checks). */
  get open(): number {
    return this.#pending.size
  }
}

// Total-timeout deadlines for in-flight exchanges, without a timer object per request.
//
// Every exchange of a route shares that route's total timeout, so exchanges with the same timeout
// expire in the order they started: one intrusive doubly-linked list per timeout value is always
// sorted by deadline (the idea behind Node's own timer lists, minus the Timeout allocation and the
// priority-queue work per request). One sweep timer runs while anything is pending and pops
// expired heads. Resolution: SWEEP_MS (a total timeout fires up to that much late).

import { performance } from 'node:perf_hooks'

const SWEEP_MS = 20

export interface DeadlineItem {
  deadlineAt: number
  dlPrev: DeadlineItem | null
  dlNext: DeadlineItem | null
  dlList: DeadlineList | null
  onDeadline(): void
}

export class DeadlineList {
  head: DeadlineItem | null = null
  tail: DeadlineItem | null = null
}

export class Deadlines {
  readonly #lists = new Map<number, DeadlineList>()
  #timer: NodeJS.Timeout | null = null
  #pending = 0

  add(item: DeadlineItem, ms: number): void {
    let list = this.#lists.get(ms)
    if (list === undefined) this.#lists.set(ms, (list = new DeadlineList()))
    item.deadlineAt = performance.now() + ms
    item.dlList = list
    item.dlNext = null
    item.dlPrev = list.tail
    if (list.tail === null) list.head = item
    else list.tail.dlNext = item
    list.tail = item
    if (++this.#pending === 1 && this.#timer === null) {
      this.#timer = setInterval(() => this.#sweep(), SWEEP_MS)
      this.#timer.unref()
    }
  }

  remove(item: DeadlineItem): void {
    const list = item.dlList
    if (list === null) return
    if (item.dlPrev === null) list.head = item.dlNext
    else item.dlPrev.dlNext = item.dlNext
    if (item.dlNext === null) list.tail = item.dlPrev
    else item.dlNext.dlPrev = item.dlPrev
    item.dlPrev = item.dlNext = null
    item.dlList = null
    this.#pending--
  }

  #sweep(): void {
    const now = performance.now()
    for (const list of this.#lists.values()) {
      while (list.head !== null && list.head.deadlineAt <= now) {
        const item = list.head
        this.remove(item)
        item.onDeadline()
      }
    }
    if (this.#pending === 0 && this.#timer !== null) {
      clearInterval(this.#timer)
      this.#timer = null
    }
  }
}

// Total-timeout deadlines for in-flight exchanges, without a timer object per request.
//
// Every exchange of a route shares that route's total timeout, so exchanges with the same timeout
// expire in the order they started: one intrusive doubly-linked list per timeout value is always
// sorted by deadline (the idea behind Node's own timer lists, minus the Timeout allocation and the
// priority-queue work per request). One timer, armed for the earliest head's deadline, pops
// expired heads and re-arms for the next; a head that completes leaves the timer as it is (it fires
// early, finds nothing due, re-arms). A total timeout fires at most MIN_DELAY_MS late.
//
// Not a fixed-rate sweep: a 20 ms interval that ran while anything was pending meant 50 wake-ups a
// second at any request rate (at a paced 1000 req/s something is always pending) for timeouts that
// are seconds long.

import { performance } from 'node:perf_hooks'

/** The shortest delay the timer is armed with: expiries within this much are handled together. */
const MIN_DELAY_MS = 1

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
  /** performance.now() the timer fires at; Infinity when none is armed. */
  #armedAt = Infinity
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
    this.#pending++
    // Lists are sorted, so only an item due before the armed time (none armed, or a shorter
    // timeout than any pending) moves the timer: one comparison per request.
    if (item.deadlineAt < this.#armedAt) {
      if (this.#timer !== null) clearTimeout(this.#timer)
      this.#arm(ms)
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

  #arm(delayMs: number): void {
    const d = Math.max(MIN_DELAY_MS, Math.ceil(delayMs))
    this.#armedAt = performance.now() + d
    this.#timer = setTimeout(this.#sweep, d)
    this.#timer.unref()
  }

  readonly #sweep = (): void => {
    this.#timer = null
    this.#armedAt = Infinity
    const now = performance.now()
    let next = Infinity
    for (const list of this.#lists.values()) {
      while (list.head !== null && list.head.deadlineAt <= now) {
        const item = list.head
        this.remove(item)
        item.onDeadline()
      }
      if (list.head !== null && list.head.deadlineAt < next) next = list.head.deadlineAt
    }
    // onDeadline may have added items (and armed the timer already).
    if (this.#pending > 0 && this.#timer === null) this.#arm(next === Infinity ? MIN_DELAY_MS : next - now)
  }
}

/**
 * One timer for many deadlines. Calls in flight almost always settle long before their deadline,
 * so arming and clearing a timer per call is wasted work on the hot path; instead one timer waits
 * for the earliest deadline of the entries still pending, and when it fires, the entries that are
 * due expire and the timer waits for the next earliest.
 */
import type { Clock } from '../util/clock.js'
import { NO_DEADLINE, type Deadline } from './deadline.js'

export class DeadlineSweeper<K> {
  private timer: unknown = null
  private armedAt: Deadline = NO_DEADLINE

  constructor(
    private readonly clock: Clock,
    /** The entries still pending, with their deadlines. */
    private readonly entries: () => Iterable<[K, { deadline: Deadline }]>,
    private readonly expire: (key: K) => void,
  ) {}

  /** A new entry with this deadline: make sure the timer fires no later than it. */
  watch(deadline: Deadline): void {
    if (deadline === NO_DEADLINE || deadline >= this.armedAt) return
    this.arm(deadline)
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer)
    this.timer = null
    this.armedAt = NO_DEADLINE
  }

  private arm(at: Deadline): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer)
    this.armedAt = at
    this.timer = this.clock.setTimeout(() => this.sweep(), Math.max(0, at - this.clock.now()))
  }

  private sweep(): void {
    this.timer = null
    this.armedAt = NO_DEADLINE
    const now = this.clock.now()
    const due: K[] = []
    let next: Deadline = NO_DEADLINE
    for (const [key, entry] of this.entries()) {
      if (entry.deadline <= now) due.push(key)
      else if (entry.deadline < next) next = entry.deadline
    }
    for (const key of due) this.expire(key)
    if (next !== NO_DEADLINE) this.watch(next)
  }
}

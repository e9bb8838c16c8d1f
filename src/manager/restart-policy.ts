/**
 * Crash-loop policy for one instance: exponential backoff with jitter, and at most `max` restarts
 * per `intervalMs`, after which the manager gives up on the instance (and says so with an event)
 * instead of burning the daily identify budget.
 */
export interface RestartPolicyOptions {
  max: number
  intervalMs: number
  baseDelayMs: number
  maxDelayMs: number
  random?: () => number
}

export type RestartDecision = { giveUp: true; restarts: number } | { giveUp: false; delayMs: number; attempt: number }

export class RestartPolicy {
  private readonly history: number[] = []
  private readonly random: () => number

  constructor(private readonly options: RestartPolicyOptions) {
    this.random = options.random ?? Math.random
  }

  /** Called when the instance died; says whether and when to respawn it. */
  next(now: number): RestartDecision {
    const { max, intervalMs, baseDelayMs, maxDelayMs } = this.options
    while (this.history.length > 0 && now - this.history[0] >= intervalMs) this.history.shift()
    if (this.history.length >= max) return { giveUp: true, restarts: this.history.length }
    const attempt = this.history.length + 1
    this.history.push(now)
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1))
    // Equal jitter: at least half the backoff, so restarts never bunch up, never zero.
    const delayMs = Math.round(ceiling / 2 + (this.random() * ceiling) / 2)
    return { giveUp: false, delayMs, attempt }
  }

  /** Restarts counted in the current window. */
  recent(now: number): number {
    return this.history.filter((t) => now - t < this.options.intervalMs).length
  }

  reset(): void {
    this.history.length = 0
  }
}

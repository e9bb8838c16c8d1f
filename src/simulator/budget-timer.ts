import type { IdentifyRules } from './identify-rules.js'

/**
 * Fires `onReset` when a budget period of the identify rules ends, so tests and managers can wait for
 * the refill instead of sleeping. The rules refill lazily on their own; this only watches their count.
 */
export class BudgetResetTimer {
  private timer: NodeJS.Timeout | null = null
  private seen = 0

  constructor(private readonly rules: IdentifyRules, private readonly onReset: () => void) {}

  get running(): boolean {
    return this.timer !== null
  }

  /** (Re)arms for the end of the current period; call after the period changed. */
  start(): void {
    if (this.timer === null) this.seen = this.rules.resets
    this.arm()
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      const resets = this.rules.resets
      if (resets > this.seen) {
        this.seen = resets
        this.onReset()
      }
      // Timers and the monotonic clock can disagree by a millisecond: re-arm until the period has ended.
      this.arm()
    }, Math.max(1, this.rules.resetAfterMs))
    this.timer.unref()
  }
}

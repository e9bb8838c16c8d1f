import { simulatorNow } from './clock.js'

/** Milliseconds since the Unix epoch; injectable so the rules can be tested without waiting. */
export type NowFn = () => number

/**
 * What happened to an IDENTIFY that passed validation:
 * - `accepted`: a session was created and the key's window moved;
 * - `violation`: the key identified less than `windowMs - toleranceMs` ago (answered with op 9);
 * - `exhausted`: the daily session budget was already 0.
 */
export type IdentifyOutcome = 'accepted' | 'violation' | 'exhausted'

export interface IdentifyRecord {
  shard: number
  total: number
  /** Rate-limit key: `shard % maxConcurrency`. */
  key: number
  /** When it arrived (clock ms). */
  at: number
  /** Time since the key's previous accepted IDENTIFY; null for the key's first. */
  gapMs: number | null
  outcome: IdentifyOutcome
}

export interface ViolationRecord {
  key: number
  shard: number
  total: number
  /** Time since the key's previous accepted IDENTIFY (always < `windowMs - toleranceMs`). */
  gapMs: number
  at: number
}

export interface IdentifyRulesConfig {
  maxConcurrency: number
  windowMs: number
  toleranceMs: number
}

export interface BudgetConfig {
  total: number
  remaining: number
  resetAfterMs: number
}

/**
 * Discord's identify rules for one bot, free of I/O: one IDENTIFY per `windowMs` per key
 * `shard % maxConcurrency`, and a daily budget that every validated IDENTIFY spends, including the
 * rate-limited ones (discord-api-docs#1328). A violation does not move the window: Discord did not
 * start a session, so the next legal moment is still measured from the last accepted one.
 */
export class IdentifyRules {
  private config: IdentifyRulesConfig
  private budget: BudgetConfig
  private resetAt: number
  private budgetResets = 0
  private readonly lastAcceptedAt = new Map<number, number>()
  /** Every validated IDENTIFY, in arrival order. */
  readonly identifies: IdentifyRecord[] = []
  /** Accepted IDENTIFY timestamps per key: the timeline of each window. */
  readonly acceptedByKey = new Map<number, number[]>()
  readonly violations: ViolationRecord[] = []

  constructor(config: IdentifyRulesConfig, budget: BudgetConfig, private readonly clock: NowFn = simulatorNow) {
    this.config = { ...config }
    this.budget = { ...budget }
    this.resetAt = clock() + budget.resetAfterMs
  }

  configure(config: Partial<IdentifyRulesConfig>): void {
    this.config = { ...this.config, ...config }
  }

  /**
   * Replaces the given budget fields (undefined ones are ignored); a new `resetAfterMs` starts a fresh
   * period now, and a lower `total` caps `remaining`.
   */
  setBudget(budget: Partial<BudgetConfig>): void {
    this.refresh()
    for (const key of ['total', 'remaining', 'resetAfterMs'] as const) {
      const value = budget[key]
      if (value !== undefined) this.budget[key] = value
    }
    if (budget.total !== undefined && budget.remaining === undefined) {
      this.budget.remaining = Math.min(this.budget.remaining, this.budget.total)
    }
    if (budget.resetAfterMs !== undefined) this.resetAt = this.clock() + budget.resetAfterMs
  }

  keyOf(shard: number): number {
    return shard % this.config.maxConcurrency
  }

  /** Session starts left in this period. */
  get remaining(): number {
    this.refresh()
    return this.budget.remaining
  }

  get total(): number {
    return this.budget.total
  }

  /** Milliseconds until the budget refills (`reset_after`); never 0, since a period that ended has already refilled. */
  get resetAfterMs(): number {
    this.refresh()
    return this.resetAt - this.clock()
  }

  /** Length of one budget period. */
  get periodMs(): number {
    return this.budget.resetAfterMs
  }

  /** How many periods have ended (each refilled `remaining` to `total`) since this object was made. */
  get resets(): number {
    this.refresh()
    return this.budgetResets
  }

  get maxConcurrency(): number {
    return this.config.maxConcurrency
  }

  /** Applies the rules to one validated IDENTIFY and records it. */
  evaluate(shard: number, total: number): IdentifyRecord {
    this.refresh()
    const at = this.clock()
    const key = this.keyOf(shard)
    const last = this.lastAcceptedAt.get(key)
    const gapMs = last === undefined ? null : at - last
    let outcome: IdentifyOutcome
    if (this.budget.remaining <= 0) {
      outcome = 'exhausted'
    } else {
      this.budget.remaining--
      if (gapMs !== null && gapMs < this.config.windowMs - this.config.toleranceMs) {
        outcome = 'violation'
        this.violations.push({ key, shard, total, gapMs, at })
      } else {
        outcome = 'accepted'
        this.lastAcceptedAt.set(key, at)
        let timeline = this.acceptedByKey.get(key)
        if (!timeline) this.acceptedByKey.set(key, (timeline = []))
        timeline.push(at)
      }
    }
    const record: IdentifyRecord = { shard, total, key, at, gapMs, outcome }
    this.identifies.push(record)
    return record
  }

  /** Forgets the recorded history; the windows and the budget keep their state. */
  resetStats(): void {
    this.identifies.length = 0
    this.violations.length = 0
    this.acceptedByKey.clear()
  }

  /**
   * Periods follow each other back to back: the next one starts when the last one ended, not when
   * someone next looks, so `reset_after` counts down the same whether or not anybody asks.
   */
  private refresh(): void {
    const now = this.clock()
    if (now < this.resetAt) return
    const period = this.budget.resetAfterMs
    const ended = Math.floor((now - this.resetAt) / period) + 1
    this.resetAt += ended * period
    this.budget.remaining = this.budget.total
    this.budgetResets += ended
  }
}

/**
 * Reconnect delays: exponential growth with "full jitter" (delay drawn uniformly from 0 to the
 * exponential cap), so many parents restarting together do not reconnect in lockstep.
 */
export interface BackoffOptions {
  /** Cap of the first delay. Default 1000 ms. */
  initialDelayMs?: number
  /** Largest cap. Default 30 000 ms. */
  maxDelayMs?: number
  /** Growth per attempt. Default 2. */
  factor?: number
  /** Source of randomness in [0, 1); tests pass a fixed one. */
  random?: () => number
}

export const BACKOFF_DEFAULTS = { initialDelayMs: 1_000, maxDelayMs: 30_000, factor: 2 } as const

export class Backoff {
  private attempt = 0
  private readonly initial: number
  private readonly max: number
  private readonly factor: number
  private readonly random: () => number

  constructor(o: BackoffOptions = {}) {
    this.initial = o.initialDelayMs ?? BACKOFF_DEFAULTS.initialDelayMs
    this.max = Math.max(this.initial, o.maxDelayMs ?? BACKOFF_DEFAULTS.maxDelayMs)
    this.factor = o.factor ?? BACKOFF_DEFAULTS.factor
    this.random = o.random ?? Math.random
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.attempt
  }

  /** The cap for the current attempt (before jitter). */
  ceiling(): number {
    return Math.min(this.max, this.initial * this.factor ** this.attempt)
  }

  /** Delay before the next attempt; advances the attempt counter. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceiling())
    this.attempt++
    return delay
  }

  reset(): void {
    this.attempt = 0
  }
}

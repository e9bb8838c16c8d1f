import type { NowFn } from './identify-rules.js'

export interface SendRateLimitConfig {
  /** Payloads allowed per window. */
  events: number
  windowMs: number
  /** Sliding window (every payload leaves it `windowMs` after it came) instead of a fixed one. */
  sliding: boolean
}

/**
 * Discord's per-connection send limit (120 payloads per 60 s, else close 4008), free of I/O.
 * The fixed window starts when the connection opens and restarts lazily at the first payload after
 * it ends, like discord.js's own send limiter; the sliding window counts the payloads of the last `windowMs`.
 */
export class SendRateLimiter {
  private windowStart: number
  private windowCount = 0
  private readonly sent: number[] = []

  constructor(private readonly config: SendRateLimitConfig, private readonly clock: NowFn) {
    this.windowStart = clock()
  }

  /** Counts one payload; true when it goes over the limit. */
  hit(): boolean {
    const now = this.clock()
    const { events, windowMs } = this.config
    if (this.config.sliding) {
      while (this.sent.length > 0 && now - (this.sent[0] as number) >= windowMs) this.sent.shift()
      this.sent.push(now)
      return this.sent.length > events
    }
    if (now - this.windowStart >= windowMs) {
      this.windowStart = now
      this.windowCount = 0
    }
    return ++this.windowCount > events
  }
}

/**
 * The channel never calls the global timer functions directly: tests drive loss detection, PTO and
 * keep-alive with a fake clock, and the real clock uses `performance.now()` because wall-clock time
 * can jump (NTP) and RTT estimates must not.
 */
export interface UdpTimers {
  /** Monotonic milliseconds (fractions allowed). */
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const realTimers: UdpTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms))
    // The socket keeps the process alive while the channel is in use; a pending retransmit timer must not.
    t.unref()
    return t
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

/**
 * A single re-armable timer. Re-arming to the same deadline is a no-op, which matters because the
 * channel recomputes its deadlines after every packet.
 */
export class Deadline {
  private handle: unknown = undefined
  private at: number | null = null

  constructor(
    private readonly timers: UdpTimers,
    private readonly fire: () => void,
  ) {}

  get deadline(): number | null {
    return this.at
  }

  set(at: number | null): void {
    if (at === this.at) return
    this.clear()
    if (at === null) return
    this.at = at
    this.handle = this.timers.setTimeout(() => {
      this.handle = undefined
      this.at = null
      this.fire()
    }, at - this.timers.now())
  }

  clear(): void {
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle)
    this.handle = undefined
    this.at = null
  }
}

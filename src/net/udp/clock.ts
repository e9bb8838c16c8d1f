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
  /**
   * Run `fn` once the current batch of I/O callbacks is done (setImmediate). The channel flushes
   * there, so every message and ACK produced while handling one batch of datagrams or worker
   * replies shares datagrams instead of each taking its own. Default: setImmediate.
   */
  defer?(fn: () => void): void
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
  defer: (fn) => {
    setImmediate(fn)
  },
}

/**
 * A single re-armable timer that is cheap to move. The channel recomputes its deadlines after every
 * flush, and a PTO deadline moves later with every packet sent; clearing and creating a Node timer
 * each time would cost more than the packet. So moving the deadline later keeps the armed timer:
 * when it fires early it re-arms for the real deadline. Only an earlier deadline re-arms at once.
 * The callback gets the deadline it fires for: Node timers have millisecond granularity and may run
 * up to a millisecond early relative to `now()`, and the handlers must not then find nothing due.
 */
export class Deadline {
  private handle: unknown = undefined
  /** When the armed timer (if any) fires. */
  private armedAt = 0
  private at: number | null = null

  constructor(
    private readonly timers: UdpTimers,
    private readonly fire: (due: number) => void,
  ) {}

  get deadline(): number | null {
    return this.at
  }

  set(at: number | null): void {
    this.at = at
    if (at === null) return // a timer still armed finds nothing due and stops
    if (this.handle !== undefined && this.armedAt <= at) return
    this.arm(at)
  }

  clear(): void {
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle)
    this.handle = undefined
    this.at = null
  }

  private arm(at: number): void {
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle)
    this.armedAt = at
    this.handle = this.timers.setTimeout(this.onTimer, at - this.timers.now())
  }

  private readonly onTimer = (): void => {
    this.handle = undefined
    const at = this.at
    if (at === null) return
    if (this.timers.now() + TIMER_SLACK_MS < at) return this.arm(at)
    this.at = null
    this.fire(at)
  }
}

/** How early a Node timer may fire relative to performance.now() (it rounds to whole milliseconds). */
const TIMER_SLACK_MS = 1

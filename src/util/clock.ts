/**
 * Time for everything that paces or times out: a monotonic clock (`performance.now()`), because the
 * wall clock can jump (NTP, a VM resumed) and a jump must never loosen an identify window or fire
 * every deadline at once. Schedulers take a Clock so tests can drive them with a fake one.
 */
export interface Clock {
  /** Monotonic milliseconds; only differences mean anything. */
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms))
    t.unref?.()
    return t
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/** Monotonic now, for code that only needs the reading. */
export const monotonicNow = (): number => performance.now()

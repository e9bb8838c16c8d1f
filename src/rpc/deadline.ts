/**
 * Deadlines as they travel. A caller fixes one absolute deadline; every hop carries what is left of
 * it (`ttl`, milliseconds, measured when the message leaves) and turns it back into a local
 * absolute time on arrival, so no hop pads or restarts the clock. Clocks of two processes or
 * machines are never compared: only durations cross a hop.
 */
import { monotonicNow } from '../util/clock.js'

/** Local monotonic milliseconds; Infinity = no deadline. */
export type Deadline = number

export const NO_DEADLINE: Deadline = Infinity

export function deadlineIn(ms: number, now = monotonicNow()): Deadline {
  return ms > 0 && Number.isFinite(ms) ? now + ms : NO_DEADLINE
}

export function remainingMs(deadline: Deadline, now = monotonicNow()): number {
  return deadline === NO_DEADLINE ? Infinity : Math.max(0, deadline - now)
}

/**
 * The deadline for the parts of a fan-out. The hop that collects one entry per target must answer
 * its own caller before the caller's deadline, so a target that is slow or unreachable becomes a
 * failed entry (`allowPartial`) instead of failing the whole call: the parts get the deadline minus
 * a reserve for the way back (10 % of what is left, at least 50 ms and at most 1 s; a busy event
 * loop on the way back must not turn every partial answer into a timeout).
 */
export function partsDeadline(deadline: Deadline, now = monotonicNow()): Deadline {
  if (deadline === NO_DEADLINE) return NO_DEADLINE
  const left = deadline - now
  const reserve = Math.min(1000, Math.max(50, left * 0.1))
  return left > reserve * 2 ? deadline - reserve : now + left / 2
}

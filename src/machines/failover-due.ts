/**
 * When a lost machine's range may move to a spare. Pure, so the timing rule is tested without links:
 * a machine is due once its link has been down for the whole failover delay; the others say when to
 * look again. Times are monotonic (`performance.now()`): a wall-clock step must neither move a range
 * before the lost machine has fenced itself nor hold it back. The caller always re-arms from
 * `recheckIn`, because Node's timers count whole milliseconds, so a timer fires up to 1 ms short of
 * a precise clock now and then (by Date.now(), 7 of 300 timers of 7 ms here), and a look that finds a
 * machine not quite due must not be the last one.
 */
export interface LostCandidate {
  /** The link is up now. */
  up: boolean
  /** It runs a slice (spares and released machines have nothing to move). */
  hasSlice: boolean
  /** Since when its link has been down (monotonic ms), or null while up. */
  downAt: number | null
}

export interface FailoverLook<T> {
  /** Lost machines whose range moves now. */
  due: T[]
  /** ms until the next one is due, or null when none is waiting. */
  recheckIn: number | null
}

export function failoverDue<T extends LostCandidate>(machines: Iterable<T>, now: number, delay: number): FailoverLook<T> {
  const due: T[] = []
  let recheckIn: number | null = null
  for (const m of machines) {
    if (!m.hasSlice || m.up || m.downAt === null) continue
    const wait = delay - (now - m.downAt)
    if (wait <= 0) due.push(m)
    else recheckIn = Math.min(recheckIn ?? Infinity, wait)
  }
  return { due, recheckIn }
}

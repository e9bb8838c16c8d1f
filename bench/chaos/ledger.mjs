// Every call the chaos traffic makes, from the parent and from every instance, and the verdict on
// it: did it settle within its deadline + 1 s, and with an error of the right type? Pure: callers
// feed it records and the time, so it is unit-tested without processes.
//
// Timing verdicts:
//   inTime        settled within timeout + GRACE_MS
//   late          settled later than that (measured by the caller), and not because the caller's own
//                 event loop was stalled
//   lateStalled   settled late, but the caller's event loop was blocked at least as long as the overrun
//   hung          never settled while its caller lived: seen pending past timeout + GRACE_MS + HUNG_MARGIN_MS
//                 with the caller alive and then lost with it, or still pending at the end of the run
//   lost          its caller died (killed by a fault) before the call could be judged
// Outcome verdicts: ok | failed (an allowed error) | wrongType | unexpectedSuccess.

export const GRACE_MS = 1000
/** A call still pending this long after its deadline + grace is hung, even if its caller is later killed. */
export const HUNG_MARGIN_MS = 2000

/** Errors a call may end with when a fault hits it. Extend with CHAOS_EXTRA_CODES for new codes. */
export const FAULT_CODES = ['TIMEOUT', 'INSTANCE_DIED', 'NOT_READY', 'LINK_LOST', 'BACKPRESSURE', 'ABORTED']

/** The class name each code must come with (matched by err.name). */
export const NAME_OF_CODE = {
  TIMEOUT: 'TimeoutError',
  INSTANCE_DIED: 'InstanceDiedError',
  NOT_READY: 'NotReadyError',
  LINK_LOST: 'LinkLostError',
  NO_TARGET: 'NoTargetError',
  ABORTED: 'AbortedError',
  REMOTE_ERROR: 'RemoteError',
}

export class CallLedger {
  constructor({ extraCodes = [] } = {}) {
    this.calls = new Map()
    this.faultCodes = new Set([...FAULT_CODES, ...extraCodes])
  }

  /**
   * A call was made. `caller` names who made it (e.g. 'pid:1234', 'parent:2'); `expect` is the one
   * error code the op must fail with (ops that fail on purpose), `strict` forbids fault codes too.
   */
  open({ id, source, caller, op, timeout, at, expect = null, strict = false, started = true }) {
    if (this.calls.has(id)) return
    this.calls.set(id, { id, source, caller, op, timeout, at, expect, strict, started, state: 'open', seenHungAt: null })
  }

  /** A call handed to its caller process (`started: false` at open) is now running there: its deadline runs from `at`. */
  start(id, at) {
    const c = this.calls.get(id)
    if (!c || c.started) return
    c.started = true
    c.at = at
  }

  /** The call settled. `outcome`: { ok, ms, stall?, code?, name?, message?, partialErrors? }. */
  settle(id, outcome) {
    const c = this.calls.get(id)
    if (!c || c.state === 'settled') return
    c.state = 'settled'
    c.outcome = outcome
    c.timing = judgeTiming(c, outcome)
    c.verdict = this.judgeOutcome(c, outcome)
  }

  /** The caller died: its open calls can no longer be judged (unless already seen hung). */
  callerGone(caller) {
    for (const c of this.calls.values()) {
      if (c.caller !== caller || c.state !== 'open') continue
      c.state = 'settled'
      c.timing = c.seenHungAt !== null ? 'hung' : 'lost'
      c.verdict = 'lost'
    }
  }

  /**
   * Marks open calls of living callers that are past deadline + grace + margin. `stalledSince(caller, at)`
   * says how long the caller's event loop was blocked since `at` (0 when unknown); that time is added
   * to the margin. Returns the calls newly seen hung.
   */
  sweep(now, isAlive, stalledSince = () => 0) {
    const newly = []
    for (const c of this.calls.values()) {
      if (c.state !== 'open' || !c.started || c.seenHungAt !== null || !isAlive(c.caller)) continue
      if (now > c.at + c.timeout + GRACE_MS + HUNG_MARGIN_MS + stalledSince(c.caller, c.at)) {
        c.seenHungAt = now
        newly.push(c)
      }
    }
    return newly
  }

  /** End of the run: whatever is still open with a living caller is hung, the rest lost. */
  finish(isAlive) {
    for (const c of this.calls.values()) {
      if (c.state !== 'open') continue
      c.state = 'settled'
      c.timing = c.seenHungAt !== null || isAlive(c.caller) ? 'hung' : 'lost'
      c.verdict = 'lost'
    }
  }

  openCount() {
    let n = 0
    for (const c of this.calls.values()) if (c.state === 'open') n++
    return n
  }

  judgeOutcome(c, o) {
    if (o.ok) {
      if (c.expect) return 'unexpectedSuccess'
      const bad = (o.partialErrors ?? []).filter((code) => !this.faultCodes.has(code))
      return bad.length > 0 ? 'wrongType' : 'ok'
    }
    const allowed = new Set(c.strict ? [c.expect] : [...(c.expect ? [c.expect] : []), ...this.faultCodes])
    if (!allowed.has(o.code)) return 'wrongType'
    const name = NAME_OF_CODE[o.code]
    if (name && o.name !== name) return 'wrongType'
    return 'failed'
  }

  all() {
    return [...this.calls.values()]
  }
}

/** A settled call is judged by its own measured time; being seen pending late was only a suspicion. */
function judgeTiming(c, o) {
  const over = o.ms - (c.timeout + GRACE_MS)
  if (over <= 0) return 'inTime'
  return (o.stall ?? 0) >= over ? 'lateStalled' : 'late'
}

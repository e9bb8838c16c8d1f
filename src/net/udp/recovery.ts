import type { AckRange } from './frames.js'

/**
 * Sender-side loss detection, PTO and congestion window, after RFC 9002 but counted in packets
 * rather than bytes (every data packet is close to the same size, and the design caps the window
 * at 64 packets). Pure logic: the caller passes `now` and arms a single timer at `deadline()`.
 */
export interface RecoveryOptions {
  /** RTT assumed before the first sample. RFC 9002 uses 333 ms for the open internet; links here are LAN/DC. */
  initialRttMs: number
  /** The peer's promise for delayed ACKs; added to every PTO. */
  maxAckDelayMs: number
  /** Timer granularity (kGranularity). */
  granularityMs: number
  /** kPacketThreshold. */
  packetThreshold: number
  /** kTimeThreshold. */
  timeThreshold: number
  initialWindow: number
  minWindow: number
  maxWindow: number
}

export const DEFAULT_RECOVERY: RecoveryOptions = {
  initialRttMs: 100,
  maxAckDelayMs: 25,
  granularityMs: 1,
  packetThreshold: 3,
  timeThreshold: 9 / 8,
  initialWindow: 16,
  minWindow: 2,
  maxWindow: 64,
}

export interface SentPacket<F> {
  pn: number
  timeSent: number
  /** Frames that must be resent if this packet is lost (data); empty for PING-only probes. */
  frames: F[]
}

export interface AckResult<F> {
  acked: SentPacket<F>[]
  lost: SentPacket<F>[]
}

export class LossRecovery<F> {
  /** Ack-eliciting packets in flight. Insertion order is pn order because pns only grow. */
  private readonly sent = new Map<number, SentPacket<F>>()
  private largestSent = -1
  private largestAcked = -1
  private lossTime: number | null = null
  private lastAckElicitingAt = 0
  private recoveryStart = -Infinity
  private ssthresh = Infinity

  latestRtt = 0
  smoothedRtt: number
  rttVar: number
  minRtt = Infinity
  ptoCount = 0
  cwnd: number

  constructor(readonly opts: RecoveryOptions = DEFAULT_RECOVERY) {
    this.smoothedRtt = opts.initialRttMs
    this.rttVar = opts.initialRttMs / 2
    this.cwnd = opts.initialWindow
  }

  get inFlight(): number {
    return this.sent.size
  }

  /** Room for another ack-eliciting packet? (PTO probes may ignore this.) */
  canSend(): boolean {
    return this.sent.size < Math.floor(this.cwnd)
  }

  /** Every packet goes through here; only ack-eliciting ones are tracked for loss. */
  onPacketSent(pn: number, ackEliciting: boolean, now: number, frames: F[] = []): void {
    if (pn > this.largestSent) this.largestSent = pn
    if (!ackEliciting) return
    this.sent.set(pn, { pn, timeSent: now, frames })
    this.lastAckElicitingAt = now
  }

  /**
   * Process one ACK frame. Returns null if it acknowledges a pn we never sent — only a broken or
   * malicious (yet authenticated) peer does that, and the caller treats it as a protocol error.
   */
  onAck(ranges: readonly AckRange[], ackDelayMs: number, now: number): AckResult<F> | null {
    const top = ranges[0]
    if (!top || top.hi > this.largestSent) return null
    if (top.hi > this.largestAcked) this.largestAcked = top.hi
    const acked: SentPacket<F>[] = []
    for (const p of this.sent.values()) {
      if (p.pn > top.hi) break
      if (inRanges(ranges, p.pn)) acked.push(p)
    }
    if (acked.length === 0) return { acked, lost: [] }
    for (const p of acked) this.sent.delete(p.pn)
    // RTT sample only from the largest acknowledged, and only if it is newly acknowledged (RFC 9002 §5.1).
    const newest = acked[acked.length - 1]!
    if (newest.pn === top.hi) this.updateRtt(now - newest.timeSent, ackDelayMs)
    for (const p of acked) this.onAckedCongestion(p)
    this.ptoCount = 0
    const lost = this.detectLoss(now)
    return { acked, lost }
  }

  /** Call when the timer at `deadline()` fires. `pto` true means: send one ack-eliciting probe. */
  onTimeout(now: number): { lost: SentPacket<F>[]; pto: boolean } {
    if (this.lossTime !== null) {
      if (now < this.lossTime) return { lost: [], pto: false }
      return { lost: this.detectLoss(now), pto: false }
    }
    if (this.sent.size === 0 || now < this.ptoDeadline()) return { lost: [], pto: false }
    this.ptoCount++
    return { lost: [], pto: true }
  }

  /** When the caller's timer should fire next, or null if nothing is pending. */
  deadline(): number | null {
    if (this.lossTime !== null) return this.lossTime
    if (this.sent.size === 0) return null
    return this.ptoDeadline()
  }

  /** PTO duration without backoff: srtt + max(4·rttvar, granularity) + max_ack_delay. */
  pto(): number {
    return this.smoothedRtt + Math.max(4 * this.rttVar, this.opts.granularityMs) + this.opts.maxAckDelayMs
  }

  /** Oldest ack-eliciting packet still in flight (what a PTO probe should repeat). */
  oldest(): SentPacket<F> | undefined {
    for (const p of this.sent.values()) return p
    return undefined
  }

  /** Forget everything in flight and return it (the channel died; nothing will be acknowledged). */
  drain(): SentPacket<F>[] {
    const all = [...this.sent.values()]
    this.sent.clear()
    this.lossTime = null
    return all
  }

  private ptoDeadline(): number {
    return this.lastAckElicitingAt + this.pto() * 2 ** this.ptoCount
  }

  private updateRtt(sample: number, ackDelayMs: number): void {
    const latest = Math.max(0, sample)
    this.latestRtt = latest
    if (this.minRtt === Infinity) {
      this.minRtt = latest
      this.smoothedRtt = latest
      this.rttVar = latest / 2
      return
    }
    this.minRtt = Math.min(this.minRtt, latest)
    // Subtract the peer's reported ACK delay, but never below min_rtt (RFC 9002 §5.3).
    const delay = Math.min(ackDelayMs, this.opts.maxAckDelayMs)
    const adjusted = latest >= this.minRtt + delay ? latest - delay : latest
    this.rttVar = 0.75 * this.rttVar + 0.25 * Math.abs(this.smoothedRtt - adjusted)
    this.smoothedRtt = 0.875 * this.smoothedRtt + 0.125 * adjusted
  }

  private onAckedCongestion(p: SentPacket<F>): void {
    // Packets sent before the current loss reaction do not grow the window (RFC 9002 §7.3.2).
    if (p.timeSent <= this.recoveryStart) return
    if (this.cwnd < this.ssthresh) this.cwnd += 1
    else this.cwnd += 1 / this.cwnd
    if (this.cwnd > this.opts.maxWindow) this.cwnd = this.opts.maxWindow
  }

  private detectLoss(now: number): SentPacket<F>[] {
    this.lossTime = null
    const lossDelay = Math.max(this.opts.timeThreshold * Math.max(this.latestRtt, this.smoothedRtt), this.opts.granularityMs)
    const lostBefore = now - lossDelay
    const lost: SentPacket<F>[] = []
    for (const p of this.sent.values()) {
      if (p.pn > this.largestAcked) break
      if (p.timeSent <= lostBefore || this.largestAcked >= p.pn + this.opts.packetThreshold) {
        lost.push(p)
      } else {
        const t = p.timeSent + lossDelay
        if (this.lossTime === null || t < this.lossTime) this.lossTime = t
      }
    }
    for (const p of lost) this.sent.delete(p.pn)
    if (lost.length) this.onCongestion(lost[lost.length - 1]!.timeSent, now)
    return lost
  }

  private onCongestion(latestLostSent: number, now: number): void {
    // One halving per round trip: losses of packets sent before the last reaction are the same event.
    if (latestLostSent <= this.recoveryStart) return
    this.recoveryStart = now
    this.ssthresh = Math.max(Math.floor(this.cwnd / 2), this.opts.minWindow)
    this.cwnd = this.ssthresh
  }
}

/** `ranges` is sorted by descending hi; short lists, so a linear scan is fine. */
export function inRanges(ranges: readonly AckRange[], pn: number): boolean {
  for (const r of ranges) {
    if (pn > r.hi) return false
    if (pn >= r.lo) return true
  }
  return false
}

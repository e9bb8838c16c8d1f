import type { AckRange } from './frames.js'

/**
 * Sender-side loss detection, probe timeout and congestion window, after RFC 9002, with the window
 * counted in bytes (a packet may carry one 60-byte request or a full 1200-byte fragment, so a
 * window in packets either starves small messages or lets large ones burst). Pure logic: the caller
 * passes `now` and arms a single timer at `deadline()`.
 */
export interface RecoveryOptions {
  /** RTT assumed before the first sample. RFC 9002 uses 333 ms for the open internet; links here are LAN/DC. */
  initialRttMs: number
  /** The peer's promise for delayed ACKs; added to every PTO. */
  maxAckDelayMs: number
  /** Timer granularity (kGranularity): the smallest rttvar term and loss delay. */
  granularityMs: number
  /** kPacketThreshold. */
  packetThreshold: number
  /** kTimeThreshold. */
  timeThreshold: number
  initialWindowBytes: number
  minWindowBytes: number
  maxWindowBytes: number
  /** Window multiplier on a loss event (RFC 9002 uses 0.5; CUBIC's 0.7 reacts less to random loss). */
  lossReduction: number
  /** Upper bound on one backed-off PTO interval, so a long silence is still probed about once a second. */
  maxPtoMs: number
  /** Largest datagram (the channel's mtu): the congestion-avoidance increment per window. */
  datagramBytes: number
}

export const DEFAULT_RECOVERY: RecoveryOptions = {
  initialRttMs: 10,
  maxAckDelayMs: 5,
  granularityMs: 1,
  packetThreshold: 3,
  timeThreshold: 9 / 8,
  initialWindowBytes: 32 * 1200,
  minWindowBytes: 4 * 1200,
  maxWindowBytes: 4 * 1024 * 1024,
  lossReduction: 0.7,
  maxPtoMs: 1000,
  datagramBytes: 1200,
}

export interface SentPacket<F> {
  pn: number
  timeSent: number
  /** Datagram size: what the packet adds to the bytes in flight. */
  bytes: number
  /** Frames that must be resent if this packet is lost (data); empty for PING-only probes. */
  frames: F[]
}

export interface AckResult<F> {
  acked: SentPacket<F>[]
  lost: SentPacket<F>[]
}

/** How many packets declared lost are remembered, to notice later ACKs for them (spurious losses). */
const LOST_HISTORY = 256

export class LossRecovery<F> {
  /** Ack-eliciting packets in flight. Insertion order is pn order because pns only grow. */
  private readonly sent = new Map<number, SentPacket<F>>()
  private largestSent = -1
  private largestAcked = -1
  private lossTime: number | null = null
  private lastAckElicitingAt = 0
  private recoveryStart = -Infinity
  private ssthresh = Infinity
  /** Declared lost recently (pn → the window before the loss event it caused, or 0). */
  private readonly recentlyLost = new Map<number, number>()

  latestRtt = 0
  smoothedRtt: number
  rttVar: number
  minRtt = Infinity
  ptoCount = 0
  cwnd: number
  bytesInFlight = 0
  /** Time of the last ACK that acknowledged something new (liveness of the path). */
  lastProgressAt: number
  /** Packets declared lost that the peer acknowledged afterwards. */
  spuriousLosses = 0
  /**
   * Whether this path has reordered packets (seen as a spurious loss). Until it does, a packet is
   * lost as soon as a later one is acknowledged, as RACK does with a zero reordering window (RFC 8985
   * §6.2): on a LAN or one host packets of one flow are not reordered, and waiting costs the
   * calls held behind the lost packet a timer tick or more. After the first spurious loss the
   * RFC 9002 thresholds (3 packets, 9/8 RTT) apply for the rest of the connection.
   */
  reorderingSeen = false

  constructor(
    readonly opts: RecoveryOptions = DEFAULT_RECOVERY,
    now = 0,
  ) {
    this.smoothedRtt = opts.initialRttMs
    this.rttVar = opts.initialRttMs / 2
    this.cwnd = opts.initialWindowBytes
    this.lastProgressAt = now
  }

  get inFlight(): number {
    return this.sent.size
  }

  /** Room for another ack-eliciting packet? The last one may overshoot the window (RFC 9002 §7). */
  canSend(): boolean {
    return this.bytesInFlight < this.cwnd
  }

  /** Every packet goes through here; only ack-eliciting ones are tracked for loss. */
  onPacketSent(pn: number, ackEliciting: boolean, now: number, frames: F[] = [], bytes = 0): void {
    if (pn > this.largestSent) this.largestSent = pn
    if (!ackEliciting) return
    if (this.sent.size === 0) this.lastProgressAt = Math.max(this.lastProgressAt, now)
    this.sent.set(pn, { pn, timeSent: now, bytes, frames })
    this.bytesInFlight += bytes
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
    if (this.recentlyLost.size) this.checkSpurious(ranges)
    const acked: SentPacket<F>[] = []
    for (const p of this.sent.values()) {
      if (p.pn > top.hi) break
      if (inRanges(ranges, p.pn)) acked.push(p)
    }
    if (acked.length === 0) return { acked, lost: [] }
    // Judged before the acked bytes leave the flight: was the sender using its window?
    const windowUsed = 2 * this.bytesInFlight >= this.cwnd
    for (const p of acked) {
      this.sent.delete(p.pn)
      this.bytesInFlight -= p.bytes
    }
    // RTT sample only from the largest acknowledged, and only if it is newly acknowledged (RFC 9002 §5.1).
    const newest = acked[acked.length - 1]!
    if (newest.pn === top.hi) this.updateRtt(now - newest.timeSent, ackDelayMs)
    if (windowUsed) for (const p of acked) this.onAckedCongestion(p)
    this.ptoCount = 0
    this.lastProgressAt = now
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
    this.bytesInFlight = 0
    this.lossTime = null
    return all
  }

  private ptoDeadline(): number {
    return this.lastAckElicitingAt + Math.min(this.pto() * 2 ** this.ptoCount, Math.max(this.opts.maxPtoMs, this.pto()))
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
    if (this.cwnd < this.ssthresh) this.cwnd += p.bytes
    else this.cwnd += (this.opts.datagramBytes * p.bytes) / this.cwnd
    if (this.cwnd > this.opts.maxWindowBytes) this.cwnd = this.opts.maxWindowBytes
  }

  private detectLoss(now: number): SentPacket<F>[] {
    this.lossTime = null
    // RFC 9002 uses max(latest_rtt, smoothed_rtt). Our smoothed RTT includes the peer application's
    // busy time before it gets to acknowledge, while the ACKs that reveal a gap are sent before the
    // application runs (see UdpChannel.processFrames); the latest sample is the fair yardstick for
    // "a packet sent earlier should have been acknowledged by now". Reordering on a LAN is rare, and
    // a spurious loss only costs a retransmission (the window reduction is undone).
    const lossDelay = Math.max(this.opts.timeThreshold * this.latestRtt, this.opts.granularityMs)
    const lostBefore = now - lossDelay
    const threshold = this.reorderingSeen ? this.opts.packetThreshold : 1
    const lost: SentPacket<F>[] = []
    for (const p of this.sent.values()) {
      if (p.pn > this.largestAcked) break
      if (p.timeSent <= lostBefore || this.largestAcked >= p.pn + threshold) {
        lost.push(p)
      } else {
        const t = p.timeSent + lossDelay
        if (this.lossTime === null || t < this.lossTime) this.lossTime = t
      }
    }
    if (lost.length === 0) return lost
    for (const p of lost) {
      this.sent.delete(p.pn)
      this.bytesInFlight -= p.bytes
    }
    const before = this.cwnd
    const reacted = this.onCongestion(lost[lost.length - 1]!.timeSent, now)
    for (const p of lost) this.rememberLost(p.pn, reacted && p === lost[lost.length - 1] ? before : 0)
    return lost
  }

  /** True if this loss started a new congestion event (one reduction per round trip). */
  private onCongestion(latestLostSent: number, now: number): boolean {
    // Losses of packets sent before the last reaction are the same event.
    if (latestLostSent <= this.recoveryStart) return false
    this.recoveryStart = now
    this.ssthresh = Math.max(this.cwnd * this.opts.lossReduction, this.opts.minWindowBytes)
    this.cwnd = this.ssthresh
    return true
  }

  private rememberLost(pn: number, windowBefore: number): void {
    this.recentlyLost.set(pn, windowBefore)
    if (this.recentlyLost.size > LOST_HISTORY) this.recentlyLost.delete(this.recentlyLost.keys().next().value!)
  }

  /**
   * A packet we declared lost was acknowledged after all (it was only late). Count it, and if its
   * loss is what reduced the window, undo the reduction: a late packet is not congestion.
   */
  private checkSpurious(ranges: readonly AckRange[]): void {
    for (const [pn, windowBefore] of this.recentlyLost) {
      if (!inRanges(ranges, pn)) continue
      this.recentlyLost.delete(pn)
      this.spuriousLosses++
      this.reorderingSeen = true
      if (windowBefore > this.cwnd) {
        this.cwnd = windowBefore
        this.ssthresh = Math.max(this.ssthresh, windowBefore)
      }
    }
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

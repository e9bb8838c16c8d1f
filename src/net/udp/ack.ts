import type { AckRange } from './frames.js'

export interface AckTrackerOptions {
  /** Longest we sit on an ack-eliciting packet before acknowledging it (the peer's PTO includes this). */
  maxAckDelayMs: number
  /** Acknowledge at once after this many ack-eliciting packets (RFC 9000 §13.2.2 recommends 2). */
  ackElicitingThreshold: number
  /** Ranges remembered; the oldest are forgotten first (see encodeAckFrame for why that is safe). */
  maxRanges: number
  /** The sender's kPacketThreshold: how many packets above a hole are ACKed at once. Default 3. */
  packetThreshold?: number
}

/**
 * Receiver-side record of which packet numbers arrived, and when an ACK is owed.
 * Only packets whose frames were all accepted are recorded: anything left out reads as a gap, and the
 * sender's loss detection retransmits it.
 */
export class AckTracker {
  /** Descending by `hi`; neighbours are separated by at least one missing pn. */
  private readonly ranges: AckRange[] = []
  private largestAt = 0
  private elicitingSinceAck = 0
  private ackDeadline: number | null = null
  private immediate = false
  private urgentAck = false
  /** Something arrived since our last ACK (so piggybacking one is useful). */
  private fresh = false

  private readonly opts: Required<AckTrackerOptions>

  constructor(opts: AckTrackerOptions) {
    this.opts = { packetThreshold: 3, ...opts }
  }

  get largest(): number {
    return this.ranges.length ? this.ranges[0]!.hi : -1
  }

  /** Snapshot of the remembered ranges (newest first). */
  get rangeList(): readonly AckRange[] {
    return this.ranges
  }

  onPacket(pn: number, ackEliciting: boolean, now: number): void {
    const largest = this.largest
    this.insert(pn)
    // ACK at once (at the end of the current I/O batch) rather than after the delayed-ACK timer when
    // the sender's loss detection needs to hear (RFC 9000 §13.2.1): a late packet (it may fill a
    // gap), and every packet less than `packetThreshold` above the newest missing pn, so that a lost
    // ACK is made up by the next one instead of waiting for the sender's probe timeout. Holes left by
    // lost ACK-only packets are never filled; this rule stops caring about them after a few packets.
    const r = this.ranges
    const late = largest >= 0 && pn < largest
    const nearHole = largest >= 0 && r.length > 0 && r[0]!.lo > 0 && pn - (r[0]!.lo - 1) <= this.opts.packetThreshold
    const outOfOrder = late || nearHole
    if (pn > largest) this.largestAt = now
    this.fresh = true
    if (!ackEliciting) return
    this.elicitingSinceAck++
    if (outOfOrder) this.urgentAck = true
    if (outOfOrder || this.elicitingSinceAck >= this.opts.ackElicitingThreshold) this.immediate = true
    else if (this.ackDeadline === null) this.ackDeadline = now + this.opts.maxAckDelayMs
  }

  /** An ACK must go out now (alone if there is nothing else to send). */
  mustAck(now: number): boolean {
    return this.immediate || (this.ackDeadline !== null && now >= this.ackDeadline)
  }

  /**
   * The owed ACK reports a gap or a late packet: what the sender's loss detection waits for. Worth
   * sending before the application gets to run, rather than at the end of the batch.
   */
  get urgent(): boolean {
    return this.urgentAck
  }

  /** An ACK is worth piggybacking on a packet that is being sent anyway. */
  get hasNews(): boolean {
    return this.fresh
  }

  /** When the delayed-ACK timer fires, or null if none is running. */
  get deadline(): number | null {
    return this.immediate ? null : this.ackDeadline
  }

  ackDelayUs(now: number): number {
    return Math.max(0, (now - this.largestAt) * 1000)
  }

  onAckSent(): void {
    this.elicitingSinceAck = 0
    this.ackDeadline = null
    this.immediate = false
    this.urgentAck = false
    this.fresh = false
  }

  private insert(pn: number): void {
    const r = this.ranges
    const first = r[0]
    if (first && pn === first.hi + 1) {
      // The common case on a clean link: extend the newest range in place.
      first.hi = pn
      return
    }
    let i = 0
    while (i < r.length && r[i]!.lo > pn) i++
    const cur = r[i]
    if (cur && pn >= cur.lo && pn <= cur.hi) return // already recorded
    if (cur && pn === cur.hi + 1) {
      cur.hi = pn
      if (i > 0 && r[i - 1]!.lo === pn + 1) this.mergeAt(i - 1)
    } else if (i > 0 && r[i - 1]!.lo === pn + 1) {
      r[i - 1]!.lo = pn
    } else {
      r.splice(i, 0, { lo: pn, hi: pn })
      if (r.length > this.opts.maxRanges) r.length = this.opts.maxRanges
    }
  }

  /** ranges[i] and ranges[i+1] touch: fold the older into the newer. */
  private mergeAt(i: number): void {
    this.ranges[i]!.lo = this.ranges[i + 1]!.lo
    this.ranges.splice(i + 1, 1)
  }
}

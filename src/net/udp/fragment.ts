/**
 * Message fragmentation (sender) and in-order reassembly (receiver) for the reliable stream.
 *
 * Memory on the receiving side is bounded without ever discarding data that was acknowledged:
 * `offer()` may answer 'refused', and the channel then leaves the whole packet unacknowledged so the
 * sender retransmits it later. The message the stream is waiting for (the head) is always admitted,
 * so the stream always makes progress and the caps can never deadlock it.
 */

/** Split a payload into views of at most `fragSize` bytes. A payload that fits (even empty) is its own single fragment. */
export function fragmentMessage(payload: Buffer, fragSize: number): Buffer[] {
  if (!(fragSize >= 1)) throw new RangeError('fragSize must be >= 1')
  if (payload.length <= fragSize) return [payload]
  const out: Buffer[] = []
  for (let off = 0; off < payload.length; off += fragSize) out.push(payload.subarray(off, off + fragSize))
  return out
}

export interface ReassemblyLimits {
  /** Largest whole message accepted; anything claiming more is a protocol violation. */
  maxMessageBytes: number
  /** Largest fragment accepted (bounded by what fits in a datagram). */
  maxFragmentBytes: number
  /** Most fragments one message may have; bounds the per-message slot array. */
  maxFragments: number
  /** Messages with some but not all fragments, excluding the head. Default 32. */
  maxPartialMessages: number
  /** Bytes buffered across all waiting messages (partial or complete-but-blocked). Default 8 MiB. */
  maxBufferedBytes: number
  /** A buffered message may wait at most this long. Default 10 s. */
  timeoutMs: number
}

export const DEFAULT_REASSEMBLY_LIMITS = {
  maxPartialMessages: 32,
  maxBufferedBytes: 8 * 1024 * 1024,
  timeoutMs: 10_000,
} as const

/** Bookkeeping cost charged per buffered message, so a flood of empty messages is bounded too. */
const ENTRY_OVERHEAD = 64

export type OfferResult = 'accepted' | 'duplicate' | 'refused' | 'invalid'

interface Entry {
  nfrag: number
  parts: (Buffer | undefined)[]
  have: number
  bytes: number
  firstSeen: number
}

export interface FragmentIn {
  msgId: number
  frag: number
  nfrag: number
  bytes: Buffer
}

export class Reassembler {
  private readonly entries = new Map<number, Entry>()
  /**
   * Whole one-fragment messages that continue the stream without a gap (msgIds next, next+1, …):
   * the common case on a healthy link, kept out of `entries` so they cost no bookkeeping. take()
   * returns them first. Bounded by what one packet can carry between two take() calls.
   */
  private ready: Buffer[] = []
  private readyHead = 0
  private next = 0
  private partial = 0
  private buffered = 0
  constructor(private readonly limits: ReassemblyLimits) {}

  /** msgId the stream is waiting for. */
  get nextMsgId(): number {
    return this.next
  }
  get bufferedBytes(): number {
    return this.buffered
  }
  get partialMessages(): number {
    return this.partial
  }
  get bufferedMessages(): number {
    return this.entries.size
  }

  offer(f: FragmentIn, now: number): OfferResult {
    if (f.nfrag < 1 || f.nfrag > this.limits.maxFragments || f.frag >= f.nfrag || f.bytes.length > this.limits.maxFragmentBytes) return 'invalid'
    // u32 serial-number arithmetic: a distance of 2^31 or more means "behind", i.e. already delivered.
    const ahead = (f.msgId - this.next) >>> 0
    if (ahead >= 0x8000_0000) return 'duplicate'
    const readyCount = this.ready.length - this.readyHead
    if (ahead < readyCount) return 'duplicate'
    let e = this.entries.get(f.msgId)
    if (!e && ahead === readyCount && f.nfrag === 1) {
      if (f.bytes.length > this.limits.maxMessageBytes) return 'invalid'
      this.ready.push(f.bytes)
      return 'accepted'
    }
    // Ready messages count as delivered for the "head" rule: the next one to complete the stream is
    // the first msgId after them.
    const isHead = ahead === readyCount
    if (e) {
      if (e.nfrag !== f.nfrag) return 'invalid'
      if (e.parts[f.frag] !== undefined) return 'duplicate'
      if (e.bytes + f.bytes.length > this.limits.maxMessageBytes) return 'invalid'
      if (!isHead && this.buffered + f.bytes.length > this.limits.maxBufferedBytes) return 'refused'
    } else {
      if (f.bytes.length > this.limits.maxMessageBytes) return 'invalid'
      if (!isHead) {
        if (f.nfrag > 1 && this.partial >= this.limits.maxPartialMessages) return 'refused'
        if (this.buffered + f.bytes.length + ENTRY_OVERHEAD > this.limits.maxBufferedBytes) return 'refused'
      }
      e = { nfrag: f.nfrag, parts: new Array<Buffer | undefined>(f.nfrag), have: 0, bytes: 0, firstSeen: now }
      this.entries.set(f.msgId, e)
      this.buffered += ENTRY_OVERHEAD
      if (f.nfrag > 1) this.partial++
    }
    // The fragment is a view into a decrypted packet buffer that is ours alone, so no copy is needed.
    e.parts[f.frag] = f.bytes
    e.have++
    e.bytes += f.bytes.length
    this.buffered += f.bytes.length
    if (e.have === e.nfrag && e.nfrag > 1) this.partial--
    return 'accepted'
  }

  /** Remove and return the next message if it is complete, else undefined. Call until undefined. */
  take(): Buffer | undefined {
    if (this.readyHead < this.ready.length) {
      const m = this.ready[this.readyHead++]!
      if (this.readyHead === this.ready.length) {
        this.ready = []
        this.readyHead = 0
      }
      this.next = (this.next + 1) >>> 0
      return m
    }
    const e = this.entries.get(this.next)
    if (!e || e.have !== e.nfrag) return undefined
    this.entries.delete(this.next)
    this.next = (this.next + 1) >>> 0
    this.buffered -= e.bytes + ENTRY_OVERHEAD
    return e.nfrag === 1 ? e.parts[0]! : Buffer.concat(e.parts as Buffer[], e.bytes)
  }

  /**
   * When the oldest buffered message will have waited `timeoutMs`, or null if nothing is buffered.
   * Map iteration follows insertion, and insertion times only grow, so the first entry is the oldest.
   */
  nextDeadline(): number | null {
    for (const e of this.entries.values()) return e.firstSeen + this.limits.timeoutMs
    return null
  }

  /** True if some buffered message has waited longer than `timeoutMs`: the stream cannot recover. */
  expired(now: number): boolean {
    const d = this.nextDeadline()
    return d !== null && now >= d
  }
}

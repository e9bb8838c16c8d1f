/**
 * Reliable-session bookkeeping (pure, no I/O): per-direction sequence numbers, cumulative acks,
 * retransmission after a reconnect, duplicate suppression and in-order delivery.
 *
 * Sequence numbers are JS integers starting at 1 (safe far beyond any session's lifetime); the
 * wire carries their low 32 bits in the frame id, and the receiver widens them relative to what it
 * expects. That is unambiguous while fewer than 2^31 messages are in flight, which the outbox
 * limits guarantee.
 */
import { ProtocolError } from '../errors.js'
import { BackpressureError } from './errors.js'

const TWO_32 = 0x1_0000_0000

export function seqToWire(seq: number): number {
  return seq % TWO_32
}

/** Widens a 32-bit wire sequence to the full value closest to `reference`. */
export function seqFromWire(wire: number, reference: number): number {
  const diff = ((wire - (reference % TWO_32)) | 0) // signed 32-bit distance
  return reference + diff
}

export interface OutboxLimits {
  maxBytes: number
  maxMessages: number
}

/**
 * Messages this side sent (or will send) and the peer has not acknowledged yet. Sequence numbers
 * are contiguous, so entries are stored by position only: frames[head] has sequence `firstSeq`.
 * A transmit cursor separates frames already handed to a transport from those still waiting.
 */
export class Outbox {
  private frames: Buffer[] = []
  private head = 0
  private firstSeq = 1
  private cursor = 1
  private byteCount = 0

  constructor(public limits: OutboxLimits) {}

  /** Sequence number the next push gets. */
  get nextSeq(): number {
    return this.firstSeq + this.size
  }
  /** Highest sequence the peer acknowledged. */
  get acked(): number {
    return this.firstSeq - 1
  }
  get size(): number {
    return this.frames.length - this.head
  }
  get bytes(): number {
    return this.byteCount
  }
  /** Frames not yet handed to a transport since the last rewind. */
  get untransmitted(): number {
    return this.nextSeq - this.cursor
  }

  /** Checks the limits for one more frame of `length` bytes; throws BackpressureError when over. */
  checkRoom(length: number, peer: string): void {
    const { maxBytes, maxMessages } = this.limits
    if (this.byteCount + length > maxBytes || this.size + 1 > maxMessages) {
      throw new BackpressureError(
        `link to ${peer}: ${this.size} messages (${this.byteCount} bytes) wait for acknowledgement; ` +
          `one more of ${length} bytes would exceed maxQueuedBytes=${maxBytes} / maxQueuedMessages=${maxMessages}. ` +
          'The peer is slow or the link is down; retry later or raise the limits.',
        this.byteCount,
        this.size,
      )
    }
  }

  /** Appends a frame and returns its sequence number. Call checkRoom first. */
  push(frame: Buffer): number {
    const seq = this.nextSeq
    this.frames.push(frame)
    this.byteCount += frame.length
    return seq
  }

  /**
   * Replaces the frame of `seq` while it is still held (not acknowledged): false once it is gone.
   * The sequence number stays, so the receiver's order and duplicate checks are unchanged.
   */
  replace(seq: number, frame: Buffer): boolean {
    if (seq <= this.acked || seq >= this.nextSeq) return false
    const i = this.head + (seq - this.firstSeq)
    this.byteCount += frame.length - this.frames[i]!.length
    this.frames[i] = frame
    return true
  }

  /** The next frame to transmit and its sequence, advancing the cursor; undefined when all were sent. */
  take(): { seq: number; frame: Buffer } | undefined {
    if (this.cursor >= this.nextSeq) return undefined
    const seq = this.cursor++
    return { seq, frame: this.frames[this.head + (seq - this.firstSeq)]! }
  }

  /** Drops every frame up to and including `seq`. Returns how many were released. */
  ack(seq: number): number {
    if (seq > this.nextSeq - 1) {
      throw new ProtocolError(`peer acknowledged message ${seq}, but only ${this.nextSeq - 1} were sent`, 'BAD_ACK')
    }
    if (seq <= this.acked) return 0
    const n = seq - this.acked
    for (let i = 0; i < n; i++) {
      this.byteCount -= this.frames[this.head]!.length
      this.frames[this.head++] = undefined as unknown as Buffer
    }
    this.firstSeq = seq + 1
    if (this.cursor < this.firstSeq) this.cursor = this.firstSeq
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head)
      this.head = 0
    }
    return n
  }

  /**
   * After a reconnect: the peer says it delivered everything up to `peerLastSeq`. Drops those and
   * moves the cursor back so the rest is sent again. Returns how many frames will be retransmitted.
   */
  rewind(peerLastSeq: number): number {
    if (peerLastSeq < this.acked) {
      throw new ProtocolError(`peer resumed at message ${peerLastSeq} but had already acknowledged ${this.acked}`, 'BAD_RESUME')
    }
    this.ack(peerLastSeq)
    const resent = this.cursor - this.firstSeq
    this.cursor = this.firstSeq
    return resent
  }

  /** Empties the outbox (session reset) and returns the frames that were never acknowledged. */
  clear(): Buffer[] {
    const rest = this.frames.slice(this.head)
    this.frames = []
    this.head = 0
    this.firstSeq = 1
    this.cursor = 1
    this.byteCount = 0
    return rest
  }

  /** True when every pushed frame was acknowledged. */
  get empty(): boolean {
    return this.size === 0
  }
}

/** Bounds on messages parked ahead of a gap. */
export interface ParkingLimits {
  maxMessages: number
  /** Payload bytes of the parked messages together. */
  maxBytes: number
}

/**
 * A gap only opens when some messages travel as datagrams (UDP) and one is lost or late; the TLS
 * retransmission fills it within a round trip or two, so a few MiB cover any honest peer.
 */
export const PARKING_DEFAULTS: Readonly<ParkingLimits> = { maxMessages: 4096, maxBytes: 8 * 1024 * 1024 }

/**
 * Receive side: delivers strictly in order, drops duplicates (seq ≤ last delivered) and parks
 * early arrivals, bounded in count and bytes. Parking is only allowed when the caller says a gap
 * is possible (a second transport is in use); on a single TLS stream a gap is a protocol error.
 */
export class Inbox<T> {
  lastDelivered = 0
  duplicates = 0
  private early = new Map<number, { item: T; bytes: number }>()
  private earlyBytes = 0

  constructor(public limits: ParkingLimits = PARKING_DEFAULTS) {}

  /** The sequence expected next, as a reference for widening wire sequences. */
  get expected(): number {
    return this.lastDelivered + 1
  }

  get parked(): number {
    return this.early.size
  }

  get parkedBytes(): number {
    return this.earlyBytes
  }

  /** Already delivered, or already parked. */
  isDuplicate(seq: number): boolean {
    return seq <= this.lastDelivered || this.early.has(seq)
  }

  /**
   * Accepts message `seq` of `bytes` payload bytes; returns the items now deliverable, in order
   * (empty for a duplicate or a parked early arrival). Throws SEQ_GAP for an early arrival when
   * parking is not allowed or its bounds are reached.
   */
  accept(seq: number, item: T, bytes = 0, mayPark = true): T[] {
    if (this.isDuplicate(seq)) {
      this.duplicates++
      return []
    }
    if (seq !== this.lastDelivered + 1) {
      this.park(seq, item, bytes, mayPark)
      return []
    }
    const out = [item]
    this.lastDelivered = seq
    while (this.early.size > 0) {
      const next = this.early.get(this.lastDelivered + 1)
      if (!next) break
      out.push(next.item)
      this.early.delete(this.lastDelivered + 1)
      this.earlyBytes -= next.bytes
      this.lastDelivered++
    }
    return out
  }

  reset(): void {
    this.lastDelivered = 0
    this.early.clear()
    this.earlyBytes = 0
  }

  private park(seq: number, item: T, bytes: number, mayPark: boolean): void {
    const missing = this.lastDelivered + 1
    if (!mayPark) {
      throw new ProtocolError(`message ${seq} arrived while ${missing} is missing; a TLS stream cannot skip messages`, 'SEQ_GAP')
    }
    const { maxMessages, maxBytes } = this.limits
    if (this.early.size + 1 > maxMessages || this.earlyBytes + bytes > maxBytes) {
      throw new ProtocolError(
        `message ${seq} arrived while ${missing} is still missing and ${this.early.size} later messages ` +
          `(${this.earlyBytes} bytes) are parked; the limit is ${maxMessages} messages / ${maxBytes} bytes`,
        'SEQ_GAP',
      )
    }
    this.early.set(seq, { item, bytes })
    this.earlyBytes += bytes
  }
}

/**
 * Frames carried inside the decrypted payload of a packet; a packet holds one or more, back to back.
 *
 *   PING  0x01                                                   ack-eliciting, no body
 *   ACK   0x02 u64 largest, u32 ackDelayUs, u8 extraRanges, u32 firstRange, extraRanges × (u32 gap, u32 len)
 *   DATA  0x03 u8 stream, u32 msgId, u16 frag, u16 nfrag, u16 len, len bytes     ack-eliciting
 *   CLOSE 0x04 u8 len, len bytes of UTF-8 reason
 *
 * ACK ranges follow QUIC (RFC 9000 §19.3.1): the first range is [largest - firstRange, largest]; each
 * further range ends `gap + 2` below the previous range's low end and spans `len + 1` packets.
 * Only the body is trusted after AEAD, but it is still parsed defensively: an authenticated peer with
 * a bug must not be able to make us throw.
 */
export const FRAME_PING = 0x01
export const FRAME_ACK = 0x02
export const FRAME_DATA = 0x03
export const FRAME_CLOSE = 0x04

export const DATA_FRAME_OVERHEAD = 12
export const ACK_FRAME_MIN = 1 + 8 + 4 + 1 + 4
export const ACK_RANGE_BYTES = 8
export const MAX_ACK_RANGES = 1 + 255
const U32 = 0xffffffff

/** Inclusive packet-number range. Lists of ranges are sorted by descending `hi` and never touch. */
export interface AckRange {
  lo: number
  hi: number
}

export interface DataFrame {
  type: typeof FRAME_DATA
  stream: number
  msgId: number
  frag: number
  nfrag: number
  bytes: Buffer
}
export interface AckFrame {
  type: typeof FRAME_ACK
  ackDelayUs: number
  ranges: AckRange[]
}
export interface PingFrame {
  type: typeof FRAME_PING
}
export interface CloseFrame {
  type: typeof FRAME_CLOSE
  reason: string
}
export type Frame = DataFrame | AckFrame | PingFrame | CloseFrame

export function dataFrameSize(bytes: number): number {
  return DATA_FRAME_OVERHEAD + bytes
}

export function writeDataFrame(out: Buffer, off: number, stream: number, msgId: number, frag: number, nfrag: number, bytes: Buffer): number {
  out[off] = FRAME_DATA
  out[off + 1] = stream
  out.writeUInt32BE(msgId >>> 0, off + 2)
  out.writeUInt16BE(frag, off + 6)
  out.writeUInt16BE(nfrag, off + 8)
  out.writeUInt16BE(bytes.length, off + 10)
  bytes.copy(out, off + DATA_FRAME_OVERHEAD)
  return off + DATA_FRAME_OVERHEAD + bytes.length
}

export function writePingFrame(out: Buffer, off: number): number {
  out[off] = FRAME_PING
  return off + 1
}

export function encodeCloseFrame(reason: string): Buffer {
  // The reason is diagnostic only; a code point split by the byte cap decodes as U+FFFD, which is fine.
  const r = Buffer.from(reason, 'utf8').subarray(0, 200)
  const out = Buffer.allocUnsafe(2 + r.length)
  out[0] = FRAME_CLOSE
  out[1] = r.length
  r.copy(out, 2)
  return out
}

/**
 * Encode an ACK frame holding as many ranges as fit in `maxBytes` (newest first). Older ranges that
 * do not fit are simply omitted: the peer then declares those packets lost and resends their data,
 * which the receiver deduplicates, so truncation costs bandwidth but never correctness.
 * Returns null when not even the first range fits.
 */
export function encodeAckFrame(ranges: readonly AckRange[], ackDelayUs: number, maxBytes: number): Buffer | null {
  if (ranges.length === 0 || maxBytes < ACK_FRAME_MIN) return null
  const fit = Math.min(ranges.length, MAX_ACK_RANGES, 1 + Math.floor((maxBytes - ACK_FRAME_MIN) / ACK_RANGE_BYTES))
  const out = Buffer.allocUnsafe(ACK_FRAME_MIN + (fit - 1) * ACK_RANGE_BYTES)
  const end = writeAckFrame(out, 0, ranges, ackDelayUs, out.length)
  return end === out.length ? out : out.subarray(0, end)
}

/**
 * encodeAckFrame, written into `out` at `off` (no allocation); returns the new offset, or `off`
 * unchanged when not even the first range fits in `maxBytes`.
 */
export function writeAckFrame(out: Buffer, off: number, ranges: readonly AckRange[], ackDelayUs: number, maxBytes: number): number {
  if (ranges.length === 0 || maxBytes < ACK_FRAME_MIN) return off
  const fit = Math.min(ranges.length, MAX_ACK_RANGES, 1 + Math.floor((maxBytes - ACK_FRAME_MIN) / ACK_RANGE_BYTES))
  const first = ranges[0]!
  out[off] = FRAME_ACK
  out.writeUInt32BE(Math.floor(first.hi / 0x1_0000_0000), off + 1)
  out.writeUInt32BE(first.hi >>> 0, off + 5)
  out.writeUInt32BE(Math.min(U32, Math.max(0, Math.round(ackDelayUs))), off + 9)
  // A range longer than u32 is clipped to its newest 2^32 packets; anything below a clipped range
  // would then be encoded relative to the wrong low end, so encoding stops after it.
  let clipped = first.hi - first.lo > U32
  out.writeUInt32BE(Math.min(U32, first.hi - first.lo), off + 14)
  let p = off + ACK_FRAME_MIN
  let prevLo = first.lo
  let extra = 0
  for (let i = 1; i < fit && !clipped; i++) {
    const r = ranges[i]!
    const gap = prevLo - r.hi - 2
    if (gap < 0 || gap > U32) break // not representable (or malformed input): stop here
    clipped = r.hi - r.lo > U32
    out.writeUInt32BE(gap, p)
    out.writeUInt32BE(Math.min(U32, r.hi - r.lo), p + 4)
    p += ACK_RANGE_BYTES
    prevLo = r.lo
    extra++
  }
  out[off + 13] = extra
  return p
}

/** Decode every frame of a packet payload, or null if anything is malformed or the payload is empty. */
export function decodeFrames(pt: Buffer): Frame[] | null {
  const frames: Frame[] = []
  let off = 0
  while (off < pt.length) {
    const type = pt[off]!
    if (type === FRAME_PING) {
      frames.push({ type: FRAME_PING })
      off += 1
    } else if (type === FRAME_DATA) {
      if (off + DATA_FRAME_OVERHEAD > pt.length) return null
      const len = pt.readUInt16BE(off + 10)
      const end = off + DATA_FRAME_OVERHEAD + len
      if (end > pt.length) return null
      frames.push({
        type: FRAME_DATA,
        stream: pt[off + 1]!,
        msgId: pt.readUInt32BE(off + 2),
        frag: pt.readUInt16BE(off + 6),
        nfrag: pt.readUInt16BE(off + 8),
        bytes: pt.subarray(off + DATA_FRAME_OVERHEAD, end),
      })
      off = end
    } else if (type === FRAME_ACK) {
      const f = decodeAck(pt, off)
      if (!f) return null
      frames.push(f.frame)
      off = f.end
    } else if (type === FRAME_CLOSE) {
      if (off + 2 > pt.length) return null
      const end = off + 2 + pt[off + 1]!
      if (end > pt.length) return null
      frames.push({ type: FRAME_CLOSE, reason: pt.toString('utf8', off + 2, end) })
      off = end
    } else {
      return null
    }
  }
  return frames.length ? frames : null
}

function decodeAck(pt: Buffer, off: number): { frame: AckFrame; end: number } | null {
  if (off + ACK_FRAME_MIN > pt.length) return null
  const hiWord = pt.readUInt32BE(off + 1)
  if (hiWord > 0x1fffff) return null
  const largest = hiWord * 0x1_0000_0000 + pt.readUInt32BE(off + 5)
  const ackDelayUs = pt.readUInt32BE(off + 9)
  const extra = pt[off + 13]!
  const firstLen = pt.readUInt32BE(off + 14)
  const end = off + ACK_FRAME_MIN + extra * ACK_RANGE_BYTES
  if (end > pt.length || firstLen > largest) return null
  const ranges: AckRange[] = [{ lo: largest - firstLen, hi: largest }]
  let prevLo = largest - firstLen
  for (let i = 0, p = off + ACK_FRAME_MIN; i < extra; i++, p += ACK_RANGE_BYTES) {
    const hi = prevLo - pt.readUInt32BE(p) - 2
    const lo = hi - pt.readUInt32BE(p + 4)
    if (lo < 0) return null
    ranges.push({ lo, hi })
    prevLo = lo
  }
  return { frame: { type: FRAME_ACK, ackDelayUs, ranges }, end }
}

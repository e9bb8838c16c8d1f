import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  FRAME_ACK,
  FRAME_CLOSE,
  FRAME_DATA,
  FRAME_PING,
  HEADER_BYTES,
  PACKET_OVERHEAD,
  UDP_CIPHERS,
  decodeFrames,
  encodeAckFrame,
  writeAckFrame,
  encodeCloseFrame,
  openPacket,
  packetNonce,
  parseHeader,
  sealPacket,
  writeDataFrame,
  writePingFrame,
  type AckRange,
} from '../../src/net/udp/index.js'

const key = randomBytes(32)
const iv = randomBytes(12)
const connId = randomBytes(8)

describe.each(UDP_CIPHERS)('seal/open with %s', (cipher) => {
  const seal = (pn: number, pt: Buffer, k = key, c = connId, epoch = 3) => sealPacket({ cipher, key: k, iv, epoch, connId: c, pn }, pt)
  const open = (dg: Buffer, k = key) => {
    const h = parseHeader(dg)
    return h ? openPacket(cipher, k, iv, h.pn, dg) : null
  }

  it('round-trips and exposes the header', () => {
    const pt = randomBytes(500)
    const dg = seal(0x1_2345_6789, pt)
    expect(dg.length).toBe(pt.length + PACKET_OVERHEAD)
    const h = parseHeader(dg)!
    expect(h.pn).toBe(0x1_2345_6789)
    expect(h.epochByte).toBe(3)
    expect(h.connId.equals(connId)).toBe(true)
    expect(open(dg)!.equals(pt)).toBe(true)
    expect(open(seal(7, Buffer.alloc(0)))!.length).toBe(0)
  })

  it('rejects every single flipped byte (header, ciphertext, tag)', () => {
    const dg = seal(42, randomBytes(64))
    expect(open(dg)).not.toBeNull() // the untouched datagram opens, so every null below is the flip's doing
    let tagChecked = 0
    for (let i = 0; i < dg.length; i++) {
      const t = Buffer.from(dg)
      t[i] ^= 0x01
      const h = parseHeader(t)
      if (i === 0 || i === 10) {
        // Byte 0 is the type: not our packet at all. Byte 10 is the pn's top byte: a pn above 2^53
        // is refused before any crypto. Both are rejected by the header check.
        expect(h).toBeNull()
        continue
      }
      expect(h).not.toBeNull()
      // Every other byte is covered by the tag, including the header bytes (they are the AAD).
      // Opening with the pn the header now claims, as the channel does:
      expect(openPacket(cipher, key, iv, h!.pn, t)).toBeNull()
      // ...and with the original pn, so a flipped pn byte is caught by the AAD, not only by the nonce:
      expect(openPacket(cipher, key, iv, 42, t)).toBeNull()
      tagChecked++
    }
    expect(tagChecked).toBe(dg.length - 2)
  })

  it('rejects a wrong key, a rewritten connId, a truncated datagram', () => {
    const dg = seal(1, Buffer.from('hello'))
    expect(open(dg, randomBytes(32))).toBeNull()
    const other = Buffer.from(dg)
    randomBytes(8).copy(other, 2)
    expect(open(other)).toBeNull()
    expect(open(dg.subarray(0, dg.length - 1))).toBeNull()
    expect(parseHeader(dg.subarray(0, PACKET_OVERHEAD - 1))).toBeNull()
  })

  it('binds the pn into the nonce: replaying a packet under another pn fails', () => {
    const dg = seal(5, Buffer.from('x'))
    const moved = Buffer.from(dg)
    moved.writeUInt32BE(6, 14)
    expect(open(moved)).toBeNull()
  })
})

describe('packet nonce and header parsing', () => {
  it('XORs the 64-bit pn into the last 8 bytes of the iv', () => {
    const zero = Buffer.alloc(12)
    const n = packetNonce(zero, 0x0102_0304_0506)
    expect(n.toString('hex')).toBe('000000000000010203040506')
    const ones = Buffer.alloc(12, 0xff)
    expect(packetNonce(ones, 0xffff_ffff).toString('hex')).toBe('ffffffffffffffff00000000')
  })

  it('refuses junk before any crypto', () => {
    expect(parseHeader(Buffer.alloc(0))).toBeNull()
    expect(parseHeader(Buffer.alloc(100))).toBeNull() // type byte 0
    const big = Buffer.alloc(100)
    big[0] = 0x11
    big.writeUInt32BE(0xffffffff, 10) // pn beyond 2^53
    expect(parseHeader(big)).toBeNull()
    expect(HEADER_BYTES).toBe(18)
    expect(PACKET_OVERHEAD).toBe(34)
  })
})

describe('frames', () => {
  it('round-trips PING, ACK, DATA and CLOSE in one payload', () => {
    const buf = Buffer.alloc(600)
    const ranges: AckRange[] = [
      { lo: 90, hi: 100 },
      { lo: 50, hi: 80 },
      { lo: 7, hi: 7 },
    ]
    const ack = encodeAckFrame(ranges, 1234, 500)!
    let off = ack.copy(buf, 0)
    off = writePingFrame(buf, off)
    off = writeDataFrame(buf, off, 0, 0xfffffffe, 2, 5, Buffer.from('abc'))
    const close = encodeCloseFrame('bye')
    off += close.copy(buf, off)
    const frames = decodeFrames(buf.subarray(0, off))!
    expect(frames.map((f) => f.type)).toEqual([FRAME_ACK, FRAME_PING, FRAME_DATA, FRAME_CLOSE])
    expect(frames[0]).toEqual({ type: FRAME_ACK, ackDelayUs: 1234, ranges })
    const d = frames[2]!
    expect(d.type === FRAME_DATA && [d.stream, d.msgId, d.frag, d.nfrag, d.bytes.toString()]).toEqual([0, 0xfffffffe, 2, 5, 'abc'])
    expect(frames[3]).toEqual({ type: FRAME_CLOSE, reason: 'bye' })
  })

  it('truncates ACK ranges to the space given, newest first', () => {
    const ranges: AckRange[] = Array.from({ length: 40 }, (_, i) => ({ lo: 1000 - i * 10 - 5, hi: 1000 - i * 10 }))
    const small = encodeAckFrame(ranges, 0, 18 + 3 * 8)!
    const f = decodeFrames(small)![0]!
    expect(f.type === FRAME_ACK && f.ranges).toEqual(ranges.slice(0, 4))
    expect(encodeAckFrame(ranges, 0, 10)).toBeNull()
    expect(encodeAckFrame([], 0, 100)).toBeNull()
  })

  it('clips a range longer than 2^32 and stops after it', () => {
    const ranges: AckRange[] = [
      { lo: 0, hi: 2 ** 33 },
      { lo: 0, hi: 0 },
    ]
    const f = decodeFrames(encodeAckFrame(ranges, 0, 100)!)![0]!
    expect(f.type === FRAME_ACK && f.ranges).toEqual([{ lo: 2 ** 33 - 0xffffffff, hi: 2 ** 33 }])
  })

  it('rejects malformed payloads without throwing', () => {
    expect(decodeFrames(Buffer.alloc(0))).toBeNull()
    expect(decodeFrames(Buffer.from([0x99]))).toBeNull()
    expect(decodeFrames(Buffer.from([FRAME_DATA, 0, 0, 0]))).toBeNull()
    const d = Buffer.alloc(20)
    writeDataFrame(d, 0, 0, 1, 0, 1, Buffer.alloc(8))
    expect(decodeFrames(d.subarray(0, 19))).toBeNull() // declared length runs past the end
    const ack = encodeAckFrame([{ lo: 3, hi: 5 }], 0, 100)!
    ack.writeUInt32BE(9, 14) // first range longer than largest
    expect(decodeFrames(ack)).toBeNull()
    const ack2 = encodeAckFrame([{ lo: 3, hi: 5 }, { lo: 0, hi: 1 }], 0, 100)!
    ack2.writeUInt32BE(9, 18) // gap below zero
    expect(decodeFrames(ack2)).toBeNull()
    expect(decodeFrames(Buffer.from([FRAME_CLOSE, 5, 65]))).toBeNull()
    // Random garbage never throws.
    for (let i = 0; i < 2000; i++) expect(() => decodeFrames(randomBytes(1 + (i % 64)))).not.toThrow()
  })
})

describe('writeAckFrame', () => {
  it('writes in place exactly what encodeAckFrame returns, at any offset, and nothing when the first range does not fit', () => {
    const ranges: AckRange[] = [
      { lo: 90, hi: 100 },
      { lo: 50, hi: 80 },
      { lo: 10, hi: 20 },
      { lo: 0, hi: 5 },
    ]
    for (const max of [18, 26, 34, 42, 500]) {
      const ref = encodeAckFrame(ranges, 777, max)!
      const out = Buffer.alloc(600, 0xee)
      const end = writeAckFrame(out, 7, ranges, 777, max)
      expect(end - 7).toBe(ref.length)
      expect(out.subarray(7, end).equals(ref)).toBe(true)
      expect(out[6]).toBe(0xee) // nothing written before the offset
      expect(out[end]).toBe(0xee) // nor after the frame
    }
    const out = Buffer.alloc(100)
    expect(writeAckFrame(out, 3, ranges, 0, 17)).toBe(3)
    expect(writeAckFrame(out, 3, [], 0, 100)).toBe(3)
  })
})

import { describe, expect, it } from 'vitest'
import { Deframer } from '../../src/net/deframer.js'
import { FrameType, HEADER_BYTES } from '../../src/net/constants.js'
import { decodePayload, encodeEmptyFrame, encodeFrame, encodeRawFrame, parseFrame, setFrameId, type Frame } from '../../src/net/frame.js'
import { ProtocolError } from '../../src/errors.js'

function roundTrip(value: unknown): unknown {
  const frames: Frame[] = []
  const d = new Deframer((f) => frames.push(f))
  d.push(encodeFrame(FrameType.MSG, 7, value))
  expect(frames).toHaveLength(1)
  return decodePayload(frames[0]!)
}

function collect(max?: number): { d: Deframer; frames: Frame[] } {
  const frames: Frame[] = []
  return { d: new Deframer((f) => frames.push(f), max), frames }
}

function header(len: number, type: number, flags = 0, id = 0): Buffer {
  const b = Buffer.alloc(HEADER_BYTES)
  b.writeUInt32BE(len, 0)
  b[4] = type
  b[5] = flags
  b.writeUInt32BE(id, 6)
  return b
}

describe('frame codec', () => {
  it('writes the header in place: length, type, flags, id', () => {
    const f = encodeFrame(FrameType.MSG, 0xdeadbeef, { a: 1 })
    expect(f.readUInt32BE(0)).toBe(f.length - 4)
    expect(f[4]).toBe(FrameType.MSG)
    expect(f[5]).toBe(0)
    expect(f.readUInt32BE(6)).toBe(0xdeadbeef)
    setFrameId(f, 5)
    expect(parseFrame(f.subarray(4)).id).toBe(5)
  })

  it('round-trips plain values faithfully', () => {
    const v = {
      v: 1,
      op: 'req',
      id: 7,
      d: { s: 'héllo ✓', n: -1.5, big: 2 ** 40, t: true, f: false, nil: null, arr: [1, 'x', [2]], buf: Buffer.from([0, 1, 255]) },
    }
    const out = roundTrip(v) as typeof v
    expect(out).toEqual(v)
    expect(Buffer.isBuffer(out.d.buf)).toBe(true)
    expect(roundTrip('str')).toBe('str')
    expect(roundTrip(null)).toBe(null)
    expect(roundTrip(0)).toBe(0)
  })

  it('omits undefined object properties (like JSON); keeps top-level and array undefined', () => {
    expect(roundTrip({ a: 1, u: undefined })).toStrictEqual({ a: 1 })
    expect(roundTrip({ n: { u: undefined } })).toStrictEqual({ n: {} })
    expect(roundTrip(undefined)).toBe(undefined)
    expect(roundTrip([1, undefined])).toStrictEqual([1, undefined])
  })

  it('decodes BigInt beyond 2^53 as bigint and safe integers as numbers; Map as object', () => {
    expect(roundTrip(2n ** 60n)).toBe(2n ** 60n)
    expect(roundTrip(Date.now())).toBeTypeOf('number')
    expect(roundTrip(new Map([['k', 1]]))).toStrictEqual({ k: 1 })
  })

  it('keeps earlier frames intact when more are encoded (shared msgpackr buffer)', () => {
    const a = encodeFrame(FrameType.MSG, 1, { a: 'first' })
    const copy = Buffer.from(a)
    for (let i = 0; i < 2000; i++) encodeFrame(FrameType.MSG, i, { i, pad: 'x'.repeat(100) })
    expect(a.equals(copy)).toBe(true)
  })

  it('empty and raw frames', () => {
    const e = parseFrame(encodeEmptyFrame(FrameType.ACK, 9).subarray(4))
    expect(e).toMatchObject({ type: FrameType.ACK, id: 9 })
    expect(e.payload.length).toBe(0)
    const r = parseFrame(encodeRawFrame(FrameType.MSG, 1, Buffer.from('raw')).subarray(4))
    expect(decodePayload(r)).toEqual(Buffer.from('raw'))
  })
})

describe('Deframer', () => {
  const frames = [
    encodeFrame(FrameType.HELLO, 0, { hello: 'x'.repeat(300) }),
    encodeEmptyFrame(FrameType.PING, 1),
    encodeFrame(FrameType.MSG, 2, [1, 2, 3]),
    encodeFrame(FrameType.MSG, 3, { big: Buffer.alloc(70_000, 7) }),
    encodeEmptyFrame(FrameType.ACK, 3),
  ]
  const stream = Buffer.concat(frames)

  it('reassembles frames across every split point of a stream', () => {
    for (let cut = 0; cut <= stream.length; cut += 97) {
      const { d, frames: out } = collect()
      d.push(stream.subarray(0, cut))
      d.push(stream.subarray(cut))
      expect(out.map((f) => f.id)).toEqual([0, 1, 2, 3, 3])
    }
  })

  it('reassembles frames fed one byte at a time and in random chunk sizes', () => {
    const { d, frames: out } = collect()
    const small = Buffer.concat(frames.slice(0, 3))
    for (let i = 0; i < small.length; i++) d.push(small.subarray(i, i + 1))
    expect(out.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.PING, FrameType.MSG])
    let seed = 42
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    for (let round = 0; round < 20; round++) {
      const c = collect()
      for (let i = 0; i < stream.length; ) {
        const n = 1 + Math.floor(rand() * 5000)
        c.d.push(stream.subarray(i, i + n))
        i += n
      }
      expect(c.frames).toHaveLength(5)
      expect((decodePayload(c.frames[3]!) as { big: Buffer }).big.equals(Buffer.alloc(70_000, 7))).toBe(true)
      expect(c.d.buffered).toBe(0)
    }
  })

  it('rejects a header announcing 4 GiB before buffering anything', () => {
    const { d, frames: out } = collect()
    const h = header(0xffffffff, FrameType.MSG)
    let err: unknown
    try {
      d.push(h)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as ProtocolError).code).toBe('FRAME_TOO_LARGE')
    expect(d.buffered).toBe(0)
    expect(out).toHaveLength(0)
  })

  it('enforces a configured limit and stays failed afterwards (no resync)', () => {
    const { d } = collect(1024)
    expect(() => d.push(header(1025, FrameType.MSG))).toThrow(/limit of 1024/)
    expect(d.failed).toBe(true)
    expect(() => d.push(encodeEmptyFrame(FrameType.PING, 1))).toThrow(ProtocolError)
  })

  it('rejects garbage, short lengths, unknown types, unknown flags and payloads on empty types', () => {
    const cases: Array<[Buffer, string]> = [
      [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'FRAME_TOO_LARGE'],
      [Buffer.from([0, 0, 0, 2, 1, 0]), 'FRAME_MALFORMED'],
      [header(6, 99), 'UNKNOWN_FRAME_TYPE'],
      [header(6, 17), 'UNKNOWN_FRAME_TYPE'],
      [header(6, FrameType.MSG, 0x80), 'FRAME_MALFORMED'],
      [Buffer.concat([header(7, FrameType.PING), Buffer.from([1])]), 'FRAME_MALFORMED'],
      [Buffer.concat([header(7, FrameType.HELLO, 1), Buffer.from([1])]), 'FRAME_MALFORMED'],
    ]
    for (const [bytes, code] of cases) {
      const { d } = collect()
      expect(() => d.push(bytes), code).toThrow(expect.objectContaining({ code }))
    }
  })

  it('reports an undecodable msgpack payload as FRAME_MALFORMED', () => {
    const f = parseFrame(Buffer.concat([header(9, FrameType.MSG), Buffer.from([0xdd, 0xff, 0xff])]).subarray(4))
    expect(() => decodePayload(f)).toThrow(expect.objectContaining({ code: 'FRAME_MALFORMED' }))
  })
})

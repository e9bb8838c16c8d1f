import { describe, expect, it } from 'vitest'
import { BackpressureError } from '../../src/net/errors.js'
import { Inbox, Outbox, seqFromWire, seqToWire } from '../../src/net/session.js'
import { Backoff } from '../../src/net/backoff.js'
import { ReportLimiter } from '../../src/net/report-limiter.js'

const frame = (n: number): Buffer => Buffer.alloc(n)

describe('sequence numbers on the wire', () => {
  it('widen 32-bit values around the expected one, across the wrap', () => {
    const base = 2 ** 32 - 3
    for (let s = base - 5; s < base + 10; s++) {
      expect(seqFromWire(seqToWire(s), base)).toBe(s)
    }
    expect(seqFromWire(seqToWire(1), 1)).toBe(1)
    expect(seqFromWire(seqToWire(5 * 2 ** 32 + 7), 5 * 2 ** 32 + 100)).toBe(5 * 2 ** 32 + 7)
  })
})

describe('Outbox', () => {
  it('assigns contiguous sequences, transmits in order, releases on cumulative ack', () => {
    const o = new Outbox({ maxBytes: 1e6, maxMessages: 100 })
    expect([o.push(frame(10)), o.push(frame(20)), o.push(frame(30))]).toEqual([1, 2, 3])
    expect(o.take()?.seq).toBe(1)
    expect(o.take()?.seq).toBe(2)
    expect(o.ack(2)).toBe(2)
    expect(o.bytes).toBe(30)
    expect(o.take()?.seq).toBe(3)
    expect(o.take()).toBeUndefined()
    expect(o.ack(1)).toBe(0) // stale ack is harmless
    expect(() => o.ack(4)).toThrow(expect.objectContaining({ code: 'BAD_ACK' }))
  })

  it('rewinds to the peer resume point and retransmits the rest', () => {
    const o = new Outbox({ maxBytes: 1e6, maxMessages: 100 })
    for (let i = 0; i < 10; i++) o.push(frame(1))
    for (let i = 0; i < 8; i++) o.take()
    o.ack(2)
    expect(o.rewind(5)).toBe(3) // 6,7,8 were sent and go again
    const seqs: number[] = []
    for (let t = o.take(); t; t = o.take()) seqs.push(t.seq)
    expect(seqs).toEqual([6, 7, 8, 9, 10])
    expect(() => o.rewind(1)).toThrow(expect.objectContaining({ code: 'BAD_RESUME' }))
  })

  it('throws BackpressureError beyond the byte or message cap, never drops', () => {
    const o = new Outbox({ maxBytes: 100, maxMessages: 3 })
    o.checkRoom(60, 'p')
    o.push(frame(60))
    expect(() => o.checkRoom(41, 'p')).toThrow(BackpressureError)
    o.push(frame(20))
    o.push(frame(20))
    expect(() => o.checkRoom(1, 'p')).toThrow(expect.objectContaining({ code: 'BACKPRESSURE', queuedMessages: 3 }))
    o.ack(3)
    expect(() => o.checkRoom(100, 'p')).not.toThrow()
  })

  it('compacts after many acks and clear() returns the unacknowledged frames', () => {
    const o = new Outbox({ maxBytes: 1e9, maxMessages: 1e6 })
    for (let i = 0; i < 5000; i++) o.push(Buffer.from([i & 0xff]))
    o.ack(4990)
    expect(o.size).toBe(10)
    expect(o.take()?.frame[0]).toBe(4990 & 0xff)
    const rest = o.clear()
    expect(rest).toHaveLength(10)
    expect(o.nextSeq).toBe(1)
  })
})

describe('Inbox', () => {
  it('delivers in order, drops duplicates, parks early arrivals', () => {
    const i = new Inbox<string>()
    expect(i.accept(1, 'a')).toEqual(['a'])
    expect(i.accept(1, 'a')).toEqual([])
    expect(i.accept(3, 'c')).toEqual([])
    expect(i.accept(4, 'd')).toEqual([])
    expect(i.accept(3, 'c')).toEqual([])
    expect(i.accept(2, 'b')).toEqual(['b', 'c', 'd'])
    expect(i.lastDelivered).toBe(4)
    expect(i.duplicates).toBe(2)
  })

  it('fails when too many messages wait for a gap', () => {
    const i = new Inbox<number>({ maxMessages: 2, maxBytes: 1 << 20 })
    i.accept(2, 2)
    i.accept(3, 3)
    expect(() => i.accept(4, 4)).toThrow(expect.objectContaining({ code: 'SEQ_GAP' }))
  })

  it('bounds parking in bytes, and releases the bytes on delivery', () => {
    const i = new Inbox<string>({ maxMessages: 100, maxBytes: 3 * 1024 * 1024 })
    const MiB = 1024 * 1024
    i.accept(2, 'b', MiB)
    i.accept(3, 'c', MiB)
    i.accept(4, 'd', MiB)
    expect(i.parkedBytes).toBe(3 * MiB)
    expect(() => i.accept(5, 'e', 1)).toThrow(expect.objectContaining({ code: 'SEQ_GAP', message: expect.stringContaining('3145728 bytes') }))
    expect(i.parked).toBe(3)
    expect(i.accept(1, 'a', MiB)).toEqual(['a', 'b', 'c', 'd'])
    expect(i.parkedBytes).toBe(0)
    expect(i.accept(5, 'e', MiB)).toEqual(['e'])
  })

  it('refuses to park at all when parking is not allowed (a single TLS stream)', () => {
    const i = new Inbox<string>()
    expect(i.accept(1, 'a', 1, false)).toEqual(['a'])
    expect(() => i.accept(3, 'c', 1, false)).toThrow(expect.objectContaining({ code: 'SEQ_GAP', message: expect.stringContaining('cannot skip') }))
    expect(i.parked).toBe(0)
    expect(i.accept(1, 'a', 1, false)).toEqual([]) // a duplicate is still fine
    expect(i.accept(2, 'b', 1, false)).toEqual(['b'])
  })

  it('simulated resume: shuffled resends over two paths still deliver exactly once in order', () => {
    const o = new Outbox({ maxBytes: 1e9, maxMessages: 1e6 })
    const inbox = new Inbox<number>()
    const got: number[] = []
    for (let n = 1; n <= 500; n++) o.push(Buffer.from([0]))
    // first connection: 300 transmitted, only 200 arrive
    for (let n = 0; n < 300; n++) {
      const t = o.take()!
      if (t.seq <= 200) got.push(...inbox.accept(t.seq, t.seq))
    }
    // reconnect: peer says it delivered 200
    o.rewind(inbox.lastDelivered)
    const resend: number[] = []
    for (let t = o.take(); t; t = o.take()) resend.push(t.seq)
    // deliver with duplicates and local reordering
    for (let k = 0; k < resend.length; k += 2) {
      const pair = [resend[k + 1], resend[k]].filter((x): x is number => x !== undefined)
      for (const s of pair) got.push(...inbox.accept(s, s))
      got.push(...inbox.accept(resend[k]!, resend[k]!))
    }
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i + 1))
  })
})

describe('ReportLimiter', () => {
  it('lets a few reports per key and second through, counts the rest, and sums them up per key', () => {
    const l = new ReportLimiter<string>({ perSecond: 3, summaryMs: 10_000 })
    const admitted = Array.from({ length: 10 }, () => l.admit('1.2.3.4 TIMEOUT', 5_000)).filter(Boolean).length
    expect(admitted).toBe(3)
    expect(l.admit('1.2.3.4 NOT_PINNED', 5_000)).toBe(true) // another code has its own budget
    expect(l.admit('1.2.3.4 TIMEOUT', 6_000)).toBe(true) // the next second
    expect(l.pending).toBe(true)
    expect(l.drain()).toEqual([{ key: '1.2.3.4 TIMEOUT', count: 7 }])
    expect(l.pending).toBe(false)
    expect(l.drain()).toEqual([])
  })

  it('tracks at most maxKeys keys; the rest share one overflow budget', () => {
    const l = new ReportLimiter<number>({ perSecond: 1, summaryMs: 10_000, maxKeys: 4 })
    for (let k = 0; k < 4; k++) expect(l.admit(k, 0)).toBe(true)
    expect(l.admit(100, 0)).toBe(true)
    expect(l.admit(101, 0)).toBe(false)
    expect(l.admit(102, 0)).toBe(false)
    expect(l.drain()).toEqual([{ key: null, count: 2 }])
    // idle keys are forgotten, so new keys get their own budget again
    for (let k = 0; k < 4; k++) l.admit(k, 1_000)
    expect(l.admit(200, 2_000)).toBe(true)
    expect(l.admit(201, 2_000)).toBe(true)
  })
})

describe('Backoff', () => {
  it('grows exponentially to the cap, with full jitter, and resets', () => {
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 })
    const d = [b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]
    expect(d).toEqual([99, 199, 399, 799, 999, 999])
    b.reset()
    expect(b.next()).toBe(99)
    const z = new Backoff({ random: () => 0 })
    expect(z.next()).toBe(0)
    expect(new Backoff().ceiling()).toBe(1000)
  })
})

describe('Outbox.replace (withdrawn messages)', () => {
  it('replaces a held frame in place and refuses one already acknowledged', async () => {
    const { Outbox } = await import('../../src/net/session.js')
    const box = new Outbox({ maxBytes: 1 << 20, maxMessages: 100 })
    const a = box.push(Buffer.alloc(10))
    const b = box.push(Buffer.alloc(20))
    expect(box.bytes).toBe(30)
    box.ack(a)
    expect(box.replace(a, Buffer.alloc(5))).toBe(false)
    expect(box.replace(b, Buffer.alloc(5))).toBe(true)
    expect(box.bytes).toBe(5)
    expect(box.take()).toMatchObject({ seq: b })
    expect(box.replace(b + 1, Buffer.alloc(1))).toBe(false)
  })
})


import type { Socket } from 'node:dgram'
import { describe, expect, it } from 'vitest'
import { OptionsError } from '../../src/errors.js'
import {
  UdpChannel,
  encodeAckFrame,
  sealPacket,
  writeDataFrame,
  type UdpChannelOptions,
  type UdpKeys,
  type UdpTimers,
} from '../../src/net/udp/index.js'
import { randomKeys } from './udp-helper.js'

/** Manual clock: timers and deferred flushes run only inside advance(), timers in deadline order. */
class FakeTimers implements UdpTimers {
  t = 0
  private seq = 0
  private readonly timers = new Map<number, { at: number; fn: () => void }>()
  private deferred: (() => void)[] = []
  now = () => this.t
  defer = (fn: () => void) => {
    this.deferred.push(fn)
  }
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.seq
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn })
    return id
  }
  clearTimeout = (h: unknown) => {
    this.timers.delete(h as number)
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await settle()
      if (this.deferred.length) {
        const run = this.deferred
        this.deferred = []
        for (const fn of run) fn()
        continue
      }
      let next: [number, { at: number; fn: () => void }] | undefined
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e
      if (!next) break
      this.timers.delete(next[0])
      this.t = next[1].at
      next[1].fn()
    }
    this.t = end
    await settle()
    while (this.deferred.length) {
      const run = this.deferred
      this.deferred = []
      for (const fn of run) fn()
      await settle()
    }
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r))
const A = { address: '10.0.0.1', port: 1000 }
const B = { address: '10.0.0.2', port: 2000 }
const connId = Buffer.from('0123456789abcdef', 'hex')
const dummySocket = { send() {} } as unknown as Socket

/** Two channels joined by an in-memory wire; `cut` silences a direction. */
function simPair(extra: Partial<UdpChannelOptions> = {}) {
  const timers = new FakeTimers()
  const keys = randomKeys()
  const wire = { aToB: true, bToA: true, sentAtoB: [] as Buffer[] }
  const base = { socket: dummySocket, connId, timers, ...extra }
  let a!: UdpChannel
  let b!: UdpChannel
  a = new UdpChannel({
    ...base,
    remote: B,
    keys: keys.client,
    role: 'client',
    transmit: (dg) => {
      wire.sentAtoB.push(dg)
      if (wire.aToB) queueMicrotask(() => b.receive(dg, A))
    },
  })
  b = new UdpChannel({
    ...base,
    remote: A,
    keys: keys.server,
    role: 'server',
    transmit: (dg) => {
      if (wire.bToA) queueMicrotask(() => a.receive(dg, B))
    },
  })
  return { a, b, timers, keys, wire }
}

/** Seal frames as the client would, for injecting hand-made packets into b. */
function craft(keys: UdpKeys, pn: number, frames: Buffer): Buffer {
  return sealPacket({ cipher: 'aes-256-gcm', key: keys.sendKey, iv: keys.sendIv, epoch: keys.epoch, connId, pn }, frames)
}

function dataFrame(msgId: number, frag: number, nfrag: number, bytes: Buffer): Buffer {
  const b = Buffer.alloc(12 + bytes.length)
  writeDataFrame(b, 0, 0, msgId, frag, nfrag, bytes)
  return b
}

describe('UdpChannel with a fake clock and an in-memory wire', () => {
  it('dies after 6 PTO expiries once deadAfterMs passed without an ACK, PTO doubling up to maxPtoMs', async () => {
    const { a, b, timers, wire } = simPair()
    b.on('message', () => {})
    wire.bToA = false // b never answers
    let deadAt = -1
    a.on('dead', (r) => {
      expect(r).toBe('timeout')
      deadAt = timers.t
    })
    a.send(Buffer.from('hello'))
    await timers.advance(0)
    // No RTT sample: PTO = 10 + 4·5 + 5 = 35 ms; expiries at 35, 105, 245, 525, 1085 and (capped at
    // 1 s) 2085 ms. By then 2 s passed without an ACK, so the sixth one is fatal.
    await timers.advance(2084)
    expect(deadAt).toBe(-1)
    expect(a.stats().ptoCount).toBe(5)
    expect(a.stats().ptoFired).toBe(5)
    await timers.advance(1)
    expect(deadAt).toBe(2085)
    // One original + 5 PTOs × 2 probes (data, then PING).
    expect(wire.sentAtoB.length).toBe(11)
  })

  it('survives a stall longer than 6 PTOs but shorter than deadAfterMs, and delivers everything', async () => {
    const { a, b, timers, wire } = simPair({ deadAfterMs: 5000 })
    const got: string[] = []
    b.on('message', (m) => got.push(String(m)))
    await timers.advance(0)
    wire.aToB = false // the path (or the peer's event loop) stalls
    a.send(Buffer.from('one'))
    a.send(Buffer.from('two'))
    await timers.advance(4000)
    expect(a.stats().ptoCount).toBeGreaterThanOrEqual(6)
    expect(a.isDead).toBe(false)
    wire.aToB = true
    await timers.advance(1100) // the next probe (PTO capped at 1 s) gets through
    expect(got).toEqual(['one', 'two'])
    expect(a.isDead).toBe(false)
    await timers.advance(100)
    expect(a.stats().ptoCount).toBe(0)
    expect(a.stats().queuedMessages).toBe(0)
  })

  it('repairs a lost packet via packet-threshold loss detection without waiting for a PTO', async () => {
    const { a, b, timers, wire } = simPair()
    const got: string[] = []
    b.on('message', (m) => got.push(String(m)))
    // Drop only the very first datagram a sends.
    let n = 0
    const orig = (a as unknown as { o: { transmit: (d: Buffer, r: unknown) => void } }).o
    const inner = orig.transmit
    orig.transmit = (dg, r) => {
      if (n++ === 0) return
      inner(dg, r)
    }
    for (let i = 0; i < 6; i++) a.send(Buffer.alloc(1000, 48 + i))
    await timers.advance(0)
    await timers.advance(30) // one delayed-ACK interval at most
    expect(got.map((s) => s[0])).toEqual(['0', '1', '2', '3', '4', '5'])
    expect(a.stats().packetsLost).toBe(1)
    expect(a.stats().ptoCount).toBe(0)
    expect(wire.sentAtoB.length).toBe(6) // 5 that got through the filter + 1 retransmission
  })

  it('packs the messages of one I/O batch into shared datagrams', async () => {
    const { a, b, timers, wire } = simPair()
    const got: number[] = []
    b.on('message', (m) => got.push(m.readUInt16BE(0)))
    await timers.advance(0)
    for (let i = 0; i < 100; i++) a.send(Buffer.alloc(100).fill(0, 2).fill(i >> 8, 0, 1).fill(i & 0xff, 1, 2))
    await timers.advance(1)
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i))
    // 100 × (100 B + 12 B frame header) in datagrams of ≤ 1200 B: 10 of them, sent by one flush.
    expect(wire.sentAtoB.length).toBe(10)
    expect(a.stats().dataFramesSent).toBe(100)
    expect(a.stats().flushes).toBe(1)
  })

  it('carries ACKs on the reverse traffic of a request/response exchange instead of sending ACK-only packets', async () => {
    const { a, b, timers } = simPair()
    b.on('message', (m) => b.send(Buffer.concat([Buffer.from('re:'), m])))
    const replies: string[] = []
    a.on('message', (m) => {
      replies.push(String(m))
      if (replies.length < 200) a.send(Buffer.from(`q${replies.length}`))
    })
    a.send(Buffer.from('q0'))
    await timers.advance(50)
    expect(replies).toHaveLength(200)
    expect(replies[199]).toBe('re:q199')
    // The requests acknowledge the replies and the replies the requests; only the last reply,
    // with nothing after it, is acknowledged alone (after max_ack_delay).
    expect(a.stats().ackOnlySent + b.stats().ackOnlySent).toBeLessThanOrEqual(2)
    expect(b.stats().acksSent).toBeGreaterThanOrEqual(199) // every reply carried one
    expect(a.stats().packetsSent).toBeLessThanOrEqual(201)
    expect(a.stats().queuedMessages + b.stats().queuedMessages).toBe(0)
  })

  it('acknowledges a packet that reveals a gap at once, before its handlers run, but an in-order one only at the end of the batch', async () => {
    const { a, b, keys } = simPair()
    a.destroy() // we play the client by hand
    const sentDuringHandler: number[] = []
    b.on('message', () => sentDuringHandler.push(b.stats().packetsSent))
    b.receive(craft(keys.client, 0, dataFrame(0, 0, 1, Buffer.from('m0'))), A)
    // In order: delivered, and the ACK waits (for the batch's end or for a reply to ride on).
    expect(sentDuringHandler).toEqual([0])
    expect(b.stats().packetsSent).toBe(0)
    b.receive(craft(keys.client, 2, dataFrame(2, 0, 1, Buffer.from('m2'))), A) // pn 1 (msg 1) missing
    expect(b.stats().packetsSent).toBe(1) // sent synchronously: the peer's loss detection needs it now
    expect(b.stats().ackOnlySent).toBe(1)
    b.receive(craft(keys.client, 1, dataFrame(1, 0, 1, Buffer.from('m1'))), A) // the late fill
    expect(b.stats().packetsSent).toBe(2)
    expect(sentDuringHandler).toEqual([0, 2, 2]) // m1 and m2 were delivered after that ACK went out
  })

  it('keeps an idle link alive with PINGs every keepAliveMs', async () => {
    const { a, b, timers } = simPair({ keepAliveMs: 5000 })
    await timers.advance(60_000)
    expect(a.isDead || b.isDead).toBe(false)
    // 12 PINGs of its own plus about as many ACKs for b's PINGs.
    expect(a.stats().packetsSent).toBeGreaterThanOrEqual(20)
    expect(a.stats().packetsSent).toBeLessThanOrEqual(26)
    expect(a.stats().ptoCount).toBe(0)
  })

  it('declares the stream broken when a buffered message waits 10 s for its predecessor', async () => {
    // No keep-alive PINGs meanwhile: their PTO chain would find the (destroyed) peer silent first.
    const { a, b, timers, keys, wire } = simPair({ keepAliveMs: 60_000 })
    wire.aToB = false
    a.destroy() // we play the client by hand
    const reasons: string[] = []
    b.on('dead', (r) => reasons.push(r))
    b.receive(craft(keys.client, 0, dataFrame(1, 0, 1, Buffer.from('second'))), A)
    await timers.advance(9_999)
    expect(reasons).toEqual([])
    await timers.advance(1)
    expect(reasons).toEqual(['reassembly-timeout'])
  })

  it('treats an authenticated but malformed packet as a protocol error', async () => {
    const { a, b, keys } = simPair()
    a.destroy()
    const reasons: string[] = []
    b.on('dead', (r) => reasons.push(r))
    // Valid AEAD, but it acknowledges a packet b never sent.
    b.receive(craft(keys.client, 0, encodeAckFrame([{ lo: 0, hi: 50 }], 0, 100)!), A)
    expect(reasons).toEqual(['protocol-error'])
    expect(b.stats().droppedInvalid).toBe(1)
  })

  it('asks for a rekey after rekeyAfterMs, and keeps old receive keys for 3×PTO only', async () => {
    const { a, b, timers, keys } = simPair({ rekeyAfterMs: 60_000 })
    const asked: number[] = []
    a.on('rekeyNeeded', (e) => asked.push(e))
    await timers.advance(60_000)
    expect(asked).toEqual([1])
    const next = { client: { ...keys.client, epoch: 1, sendKey: Buffer.alloc(32, 1) }, server: { ...keys.server, epoch: 1, recvKey: Buffer.alloc(32, 1) } }
    b.rekey(next.server)
    // a has not switched yet: its epoch-0 packets are still accepted by b...
    const got: string[] = []
    b.on('message', (m) => got.push(String(m)))
    a.send(Buffer.from('old-epoch'))
    await timers.advance(1)
    expect(got).toEqual(['old-epoch'])
    a.rekey(next.client)
    a.send(Buffer.from('new-epoch'))
    await timers.advance(1)
    expect(got).toEqual(['old-epoch', 'new-epoch'])
    // ...until 3×PTO after b's rekey; then an old-epoch packet is dropped as unauthenticated.
    await timers.advance(5_000)
    const before = b.stats().droppedAuth
    b.receive(craft(keys.client, 10_000, Buffer.from([1])), A)
    expect(b.stats().droppedAuth).toBe(before + 1)
    expect(() => b.rekey(next.server)).toThrow(/epoch 2/)
  })

  it('leaves packets unacknowledged when reassembly buffers are full, and still delivers everything in order', async () => {
    const { a, b, timers } = simPair({ maxBufferedBytes: 4096 })
    const got: number[] = []
    b.on('message', (m) => got.push(m.readUInt16BE(0)))
    // Lose the first datagram (message 0): everything behind it must wait in b's 4 KiB buffer.
    let n = 0
    const o = (a as unknown as { o: { transmit: (d: Buffer, r: unknown) => void } }).o
    const inner = o.transmit
    o.transmit = (dg, r) => {
      if (n++ !== 0) inner(dg, r)
    }
    for (let i = 0; i < 40; i++) {
      const m = Buffer.alloc(1000)
      m.writeUInt16BE(i, 0)
      a.send(m)
    }
    await timers.advance(5_000)
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i))
    expect(b.stats().droppedRefused).toBeGreaterThan(0)
    expect(a.isDead || b.isDead).toBe(false)
  })

  it('survives fuzzing: random, mutated and authenticated-garbage datagrams never throw', async () => {
    const { a, b, keys, timers } = simPair()
    a.on('message', () => {})
    b.on('message', () => {})
    b.on('dead', () => {})
    a.send(Buffer.alloc(3000, 7))
    await timers.advance(50)
    const genuine = craft(keys.client, 1_000_000, Buffer.from([1]))
    let seed = 1
    const rnd = () => ((seed = (seed * 48271) % 2147483647) / 2147483647)
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)))
    for (let i = 0; i < 2000; i++) {
      let dg: Buffer
      if (i % 2 === 0) dg = bytes(Math.floor(rnd() * 1300))
      else {
        dg = Buffer.from(genuine)
        dg[Math.floor(rnd() * dg.length)] ^= 1 + Math.floor(rnd() * 255)
      }
      expect(() => b.receive(dg, A)).not.toThrow()
    }
    expect(b.stats().droppedAuth).toBe(2000)
    expect(b.isDead).toBe(false)
    // Authenticated (valid AEAD) but random frames: a fresh channel each time, since the first
    // malformed one rightly kills the channel (the owner then falls back to TLS).
    let protocolErrors = 0
    for (let i = 0; i < 300; i++) {
      const fresh = simPair()
      fresh.a.destroy()
      fresh.b.on('message', () => {})
      fresh.b.on('dead', (r) => {
        if (r === 'protocol-error') protocolErrors++
      })
      const dg = craft(fresh.keys.client, i, bytes(1 + Math.floor(rnd() * 200)))
      expect(() => fresh.b.receive(dg, A)).not.toThrow()
      fresh.b.destroy()
    }
    // A few random payloads happen to parse (e.g. a run of PING bytes); the rest are rejected.
    expect(protocolErrors).toBeGreaterThan(250)
    await timers.advance(10)
  })

  it('validates options with OptionsError naming the field', () => {
    const keys = randomKeys().client
    const ok: UdpChannelOptions = { socket: dummySocket, remote: A, connId, keys, role: 'client' }
    expect(() => new UdpChannel({ ...ok, mtu: 100 })).toThrow(/udp\.mtu/)
    expect(() => new UdpChannel({ ...ok, remote: { address: 'localhost', port: 1 } })).toThrow(OptionsError)
    expect(() => new UdpChannel({ ...ok, connId: Buffer.alloc(4) })).toThrow(/udp\.connId/)
    expect(() => new UdpChannel({ ...ok, cipher: 'des' as never })).toThrow(/udp\.cipher/)
    expect(() => new UdpChannel({ ...ok, keys: { ...keys, sendIv: Buffer.alloc(8) } })).toThrow(/udp\.keys\.sendIv/)
    expect(() => new UdpChannel({ ...ok, maxMessageBytes: 9 * 1024 * 1024 })).toThrow(/maxMessageBytes/)
    expect(() => new UdpChannel({ ...ok, initialWindowBytes: 100 })).toThrow(/udp\.initialWindowBytes/)
    expect(() => new UdpChannel({ ...ok, maxWindowBytes: 1000 })).toThrow(/udp\.maxWindowBytes/)
    expect(() => new UdpChannel({ ...ok, deadAfterMs: -1 })).toThrow(/udp\.deadAfterMs/)
    const ch = new UdpChannel({ ...ok, timers: new FakeTimers() })
    expect(ch.stats().cwnd).toBe(32 * 1200) // bytes
    ch.destroy()
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deriveUdpKeys, type UdpChannel } from '../../src/net/udp/index.js'
import { makeCerts, tlsPair, type TestCerts, type TlsPair } from './tls-helper.js'
import { channelPair, collect, mixedPayloads, quiescent, until, type Family } from './udp-helper.js'

let certs: TestCerts
let link: TlsPair
beforeAll(async () => {
  certs = makeCerts()
  link = await tlsPair(certs)
})
afterAll(async () => {
  await link?.close()
  certs?.cleanup()
})

const N = 2000

describe.each<Family>(['udp4', 'udp6'])('UdpChannel over real %s loopback sockets', (family) => {
  it(`delivers ${N} mixed-size messages each way exactly once, in order`, async () => {
    const p = await channelPair(family, { tls: link })
    try {
      const up = mixedPayloads(N, 1)
      const down = mixedPayloads(N, 2)
      const atServer = collect(p.sc, up)
      const atClient = collect(p.cc, down)
      const t0 = performance.now()
      for (let i = 0; i < N; i++) {
        expect(p.cc.send(up[i]!)).toBe(true)
        expect(p.sc.send(down[i]!)).toBe(true)
      }
      await Promise.all([atServer.done, atClient.done])
      const ms = performance.now() - t0
      await until(() => quiescent(p))
      // Nothing extra arrived after everything was acknowledged.
      expect([atServer.got(), atClient.got()]).toEqual([N, N])
      const cs = p.cc.stats()
      const ss = p.sc.stats()
      expect(cs.messagesReceived).toBe(N)
      expect(ss.messagesReceived).toBe(N)
      expect(cs.droppedAuth + ss.droppedAuth + cs.droppedInvalid + ss.droppedInvalid).toBe(0)
      expect(cs.srttMs).toBeGreaterThan(0)
      const bytes = up.reduce((a, b) => a + b.length, 0) + down.reduce((a, b) => a + b.length, 0)
      console.log(
        `[${family}] ${2 * N} msgs / ${(bytes / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms; ` +
          `client sent ${cs.packetsSent} pkts, lost ${cs.packetsLost}, retx ${cs.packetsRetransmitted}, srtt ${cs.srttMs.toFixed(2)} ms, cwnd ${cs.cwnd}`,
      )
    } finally {
      await p.close()
    }
  })
})

describe('UdpChannel lifecycle', () => {
  it('close() tells the peer, and both report dead; send() then returns false', async () => {
    const p = await channelPair('udp4')
    try {
      const peerDead = new Promise<string>((r) => p.sc.once('dead', (reason) => r(reason)))
      const selfDead = new Promise<string>((r) => p.cc.once('dead', (reason) => r(reason)))
      p.cc.close()
      expect(await selfDead).toBe('closed')
      expect(await peerDead).toBe('peer-closed')
      expect(p.cc.send(Buffer.from('x'))).toBe(false)
      expect(p.sc.send(Buffer.from('x'))).toBe(false)
      expect(p.server.stats().channels).toBe(0) // dead channels unregister themselves
    } finally {
      await p.close()
    }
  })

  it('refuses oversized messages and messages beyond the queue cap', async () => {
    const p = await channelPair('udp4', { client: { maxMessageBytes: 1000, maxQueuedBytes: 2500 } })
    try {
      expect(p.cc.send(Buffer.alloc(1001))).toBe(false)
      expect(p.cc.send(Buffer.alloc(1000))).toBe(true)
      expect(p.cc.send(Buffer.alloc(1000))).toBe(true)
      expect(p.cc.send(Buffer.alloc(1000))).toBe(false) // 3000 > 2500 unacknowledged
      expect(p.cc.send(Buffer.alloc(0))).toBe(true) // empty messages are fine
      const got: number[] = []
      p.sc.on('message', (m) => got.push(m.length))
      await until(() => got.length === 3)
      expect(got).toEqual([1000, 1000, 0])
      await until(() => p.cc.stats().queuedBytes === 0)
      expect(p.cc.send(Buffer.alloc(1000))).toBe(true)
    } finally {
      await p.close()
    }
  })

  it('detects a silent peer: dead after the PTO limit, handing back unacknowledged messages', async () => {
    const fast = { maxAckDelayMs: 2, initialRttMs: 5, keepAliveMs: 20, deadAfterMs: 50 }
    const p = await channelPair('udp4', { common: fast })
    try {
      const echo = collect(p.sc, [Buffer.from('warm-up')])
      p.cc.send(Buffer.from('warm-up'))
      await echo.done
      await until(() => p.cc.stats().queuedMessages === 0) // warm-up acknowledged
      // Stop the server side entirely (no CLOSE frame): its socket is gone.
      await p.server.close()
      const t0 = performance.now()
      const dead = new Promise<[string, Buffer[]]>((r) => p.cc.once('dead', (reason, unacked) => r([reason, unacked])))
      p.cc.send(Buffer.from('lost-1'))
      p.cc.send(Buffer.from('lost-2'))
      const [reason, unacked] = await dead
      const ms = performance.now() - t0
      expect(reason).toBe('timeout')
      expect(unacked.map(String)).toEqual(['lost-1', 'lost-2'])
      expect(p.cc.stats().ptoCount).toBeGreaterThanOrEqual(6)
      console.log(`dead after ${ms.toFixed(0)} ms (${p.cc.stats().ptoCount} PTOs)`)
    } finally {
      await p.close()
    }
  })

  it('an idle channel whose peer vanished dies through keep-alive PINGs', async () => {
    const p = await channelPair('udp6', { common: { maxAckDelayMs: 2, initialRttMs: 5, keepAliveMs: 30, deadAfterMs: 50 } })
    try {
      const dead = new Promise<string>((r) => p.sc.once('dead', (reason) => r(reason)))
      p.cc.destroy() // silently gone; no traffic was ever sent
      expect(await dead).toBe('timeout')
      expect(p.sc.stats().packetsSent).toBeGreaterThanOrEqual(6)
    } finally {
      await p.close()
    }
  })

  it('rekeys under traffic without losing or duplicating a message', async () => {
    const p = await channelPair('udp4', { tls: link, common: { rekeyAfterPackets: 200 } })
    try {
      const up = Array.from({ length: 3000 }, (_, i) => Buffer.from(`m${i}`.padEnd(300, '.')))
      const atServer = collect(p.sc, up)
      const needed: number[] = []
      const rekey = (ch: UdpChannel, role: 'client' | 'server') => (next: number) => {
        needed.push(next)
        ch.rekey(deriveUdpKeys(role === 'client' ? link.client : link.server, p.connId, next, role))
      }
      // The client asks first; in the real system UDP_REKEY over TLS makes the server follow.
      p.cc.on('rekeyNeeded', (next) => {
        rekey(p.cc, 'client')(next)
        setImmediate(() => rekey(p.sc, 'server')(next))
      })
      for (let i = 0; i < up.length; i++) p.cc.send(up[i]!)
      await atServer.done
      expect(p.cc.epoch).toBeGreaterThanOrEqual(2)
      expect(p.sc.epoch).toBe(p.cc.epoch)
      expect(() => p.cc.rekey(deriveUdpKeys(link.client, p.connId, p.cc.epoch + 5, 'client'))).toThrow(/epoch/)
      expect(p.sc.stats().droppedInvalid).toBe(0)
    } finally {
      await p.close()
    }
  })
})

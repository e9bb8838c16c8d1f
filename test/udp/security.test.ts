import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { UdpEndpoint, sealPacket, type UdpRemote } from '../../src/net/udp/index.js'
import { channelPair, collect, until } from './udp-helper.js'

// ~1000 B each, so every message travels in its own packet and there are plenty of packets to replay.
const msgs = (from: number, n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`msg-${from + i}`.padEnd(1000, '#')))

describe('UdpChannel under attack (real udp4 sockets)', () => {
  it('drops and counts forged, tampered, replayed, misaddressed and unknown datagrams while traffic continues', async () => {
    const captured: Buffer[] = []
    const holder: { ep?: UdpEndpoint } = {}
    const p = await channelPair('udp4', {
      client: {
        transmit: (dg: Buffer, r: UdpRemote) => {
          captured.push(Buffer.from(dg))
          holder.ep!.socket.send(dg, r.port, r.address)
        },
      },
    })
    holder.ep = p.client
    const serverPort = p.server.address().port
    const inject = (dg: Buffer, from = p.client) =>
      new Promise<void>((res, rej) => from.socket.send(dg, serverPort, p.host, (e) => (e ? rej(e) : res())))
    const stranger = new UdpEndpoint({ type: 'udp4', address: '127.0.0.1' })
    await stranger.listen()
    try {
      const all = msgs(0, 400)
      const rx = collect(p.sc, all)
      for (const m of all.slice(0, 200)) p.cc.send(m)
      await until(() => rx.got() === 200)
      expect(captured.length).toBeGreaterThanOrEqual(200)
      const before = p.sc.stats()

      // 1. Replays of genuine packets, from the genuine address: authenticated, then rejected by the window.
      for (const dg of captured.slice(0, 20)) await inject(dg)
      // 2. Tampered copies (one ciphertext bit flipped): fail the tag.
      for (const dg of captured.slice(-10)) {
        const t = Buffer.from(dg)
        t[t.length - 20]! ^= 0x80
        await inject(t)
      }
      // 3. Forged: right connId and a fresh pn, but sealed with a key the attacker made up.
      for (let pn = 1_000_000; pn < 1_000_010; pn++) {
        await inject(sealPacket({ cipher: 'aes-256-gcm', key: randomBytes(32), iv: randomBytes(12), epoch: 0, connId: p.connId, pn }, Buffer.from([1])))
      }
      // 4. A genuine packet sent from somewhere else.
      await inject(captured[captured.length - 1]!, stranger)
      // 5. Unknown connId and plain junk: the endpoint drops them before any channel sees them.
      const foreign = Buffer.from(captured[0]!)
      randomBytes(8).copy(foreign, 2)
      await inject(foreign)
      await inject(Buffer.from('hello?'))

      await until(() => {
        const s = p.sc.stats()
        const e = p.server.stats()
        return s.droppedReplay - before.droppedReplay >= 20 && s.droppedAuth - before.droppedAuth >= 20 && s.droppedAddress >= 1 && e.droppedUnknown >= 1 && e.droppedMalformed >= 1
      })
      const after = p.sc.stats()
      expect(after.droppedReplay - before.droppedReplay).toBe(20)
      expect(after.droppedAuth - before.droppedAuth).toBe(20)
      expect(after.droppedAddress).toBe(1)
      expect(p.server.stats()).toMatchObject({ droppedUnknown: 1, droppedMalformed: 1 })
      expect(after.droppedInvalid).toBe(0)
      expect(after.dead).toBe(false)

      // Traffic continues, still exactly once and in order (collect() fails on any extra/out-of-order message).
      for (const m of all.slice(200)) p.cc.send(m)
      await rx.done
      expect(p.sc.stats().messagesReceived).toBe(400)
    } finally {
      await stranger.close()
      await p.close()
    }
  })

  it('follows a rebinding peer only when allowed, and only on its newest authenticated packet', async () => {
    const held: Buffer[] = []
    let hold = false
    const holder: { ep?: UdpEndpoint } = {}
    const p = await channelPair('udp4', {
      server: { allowAddressChange: true },
      client: {
        transmit: (dg: Buffer, r: UdpRemote) => {
          if (hold) held.push(Buffer.from(dg))
          else holder.ep!.socket.send(dg, r.port, r.address)
        },
      },
    })
    holder.ep = p.client
    const clientPort = p.client.address().port
    try {
      const payloads = msgs(0, 3)
      const rx = collect(p.sc, payloads)
      p.cc.send(payloads[0]!)
      await until(() => rx.got() === 1)
      hold = true
      p.cc.send(payloads[1]!)
      p.cc.send(payloads[2]!)
      await until(() => held.length >= 2)
      const moved = { address: '127.0.0.1', port: clientPort + 1 }
      // The newest genuine packet arrives from a new address: the server follows.
      p.sc.receive(held[held.length - 1]!, moved)
      expect(p.sc.remote).toEqual(moved)
      // An older (but never seen) genuine packet from yet another address does not move it...
      p.sc.receive(held[0]!, { address: '127.0.0.1', port: clientPort + 2 })
      expect(p.sc.stats().droppedAddress).toBe(1)
      // ...and a replay of the newest one is a replay, wherever it comes from.
      p.sc.receive(held[held.length - 1]!, { address: '127.0.0.1', port: clientPort + 3 })
      expect(p.sc.stats().droppedReplay).toBe(1)
      expect(p.sc.remote).toEqual(moved)
      // The client's retransmissions come from its real port with newer pns: the server moves back,
      // and the stream completes in order.
      hold = false
      await rx.done
      expect(p.sc.remote).toEqual({ address: '127.0.0.1', port: clientPort })
    } finally {
      await p.close()
    }
  })
})

/**
 * The second-transport hook (attachDatagramTransport) with an in-memory stand-in for the UDP
 * channel: MSG frames travel as datagrams, and when the channel dies whatever it swallowed is
 * sent again over TLS. Also the UDP_SETUP control path and the shared TLS exporter keys.
 */
import { EventEmitter } from 'node:events'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FrameType, UDP_EXPORTER_LABEL } from '../../src/net/constants.js'
import { Cleanup, collect, connectPair, dropCertSet, makeCertSet, waitEvent, type CertSet } from './_support.js'

let c: CertSet
const cleanup = new Cleanup()
beforeAll(() => {
  c = makeCertSet()
})
afterEach(() => cleanup.run())
afterAll(() => dropCertSet(c))

/** Delivers asynchronously; can lose datagrams (`lose`) and die (`kill`). */
class FakeDatagram extends EventEmitter {
  peer!: FakeDatagram
  dead = false
  sent = 0
  lose: (n: number) => boolean = () => false
  send(payload: Buffer): boolean {
    if (this.dead || payload.length > 1200) return false
    const n = ++this.sent
    if (!this.lose(n)) {
      const copy = Buffer.from(payload)
      setImmediate(() => { if (!this.peer.dead) this.peer.emit('message', copy) })
    }
    return true
  }
  close(): void {
    this.dead = true
  }
  kill(): void {
    this.dead = true
    this.emit('dead', 'timeout')
  }
}

function fakePair(): [FakeDatagram, FakeDatagram] {
  const a = new FakeDatagram()
  const b = new FakeDatagram()
  a.peer = b
  b.peer = a
  return [a, b]
}

describe('datagram transport hook', () => {
  it("negotiates 'udp', carries MSG frames over the datagram path, and falls back to TLS for large ones", async () => {
    const { server, client } = await connectPair(c, cleanup, { caps: ['udp'] }, { caps: ['udp'] })
    expect(client.caps).toContain('udp')
    const [dc, ds] = fakePair()
    client.attachDatagramTransport(dc)
    server.attachDatagramTransport(ds)
    const atServer = collect(server)
    const atClient = collect(client)
    for (let i = 0; i < 300; i++) {
      client.send({ i, pad: i % 50 === 0 ? 'x'.repeat(5000) : '' }) // every 50th is too big for a datagram
      server.send({ i })
    }
    await Promise.all([atServer.until(300), atClient.until(300)])
    expect(atServer.values.map((m) => m.i)).toEqual([...Array(300).keys()])
    expect(atClient.values.map((m) => m.i)).toEqual([...Array(300).keys()])
    expect(dc.sent).toBe(294)
    expect(client.stats().datagram).toBe(true)
  })

  it('when the datagram path loses messages and then dies, they are re-sent over TLS exactly once, in order', async () => {
    const { server, client } = await connectPair(c, cleanup, { caps: ['udp'] }, { caps: ['udp'] })
    const [dc, ds] = fakePair()
    dc.lose = (n) => n > 100 && n <= 140 // a burst the "UDP" never delivered
    client.attachDatagramTransport(dc)
    server.attachDatagramTransport(ds)
    const atServer = collect(server)
    for (let i = 0; i < 200; i++) client.send(i)
    await atServer.until(100)
    const fellBack = waitEvent(client, 'datagramDown')
    dc.kill()
    expect((await fellBack).reason).toBe('timeout')
    for (let i = 200; i < 300; i++) client.send(i)
    await atServer.until(300)
    expect(atServer.values).toEqual([...Array(300).keys()])
    expect(client.stats().datagram).toBe(false)
  })

  it('UDP_SETUP control frames and identical exporter keys on both ends', async () => {
    const { server, client } = await connectPair(c, cleanup, { caps: ['udp'] }, { caps: ['udp'] })
    const ctl = waitEvent(server, 'control')
    client.sendControl(FrameType.UDP_SETUP, { connId: Buffer.alloc(8, 1), port: 1234 }, 7)
    expect(await ctl).toEqual({ type: FrameType.UDP_SETUP, id: 7, value: { connId: Buffer.alloc(8, 1), port: 1234 } })
    const ctx = Buffer.alloc(12, 2)
    const a = client.exportKeyingMaterial(88, UDP_EXPORTER_LABEL, ctx)
    const b = server.exportKeyingMaterial(88, UDP_EXPORTER_LABEL, ctx)
    expect(a?.length).toBe(88)
    expect(a?.equals(b!)).toBe(true)
  })

  it("control frames are refused unless 'udp' was negotiated", async () => {
    const { client } = await connectPair(c, cleanup, {}, { caps: ['udp'] })
    expect(client.caps).not.toContain('udp')
    expect(() => client.sendControl(FrameType.UDP_SETUP, {})).toThrow(/not negotiated/)
  })
})

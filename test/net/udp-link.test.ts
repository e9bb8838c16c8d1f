/** The real UDP channel (src/net/udp) wired under a link: setup over TLS, traffic over UDP, fallback. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { UdpEndpoint } from '../../src/net/udp/index.js'
import { autoUdp, serveUdp, startUdp } from '../../src/net/udp-link.js'
import { Cleanup, collect, connectPair, dropCertSet, makeCertSet, waitEvent, type CertSet } from './_support.js'

let c: CertSet
const cleanup = new Cleanup()
beforeAll(() => {
  c = makeCertSet()
})
afterEach(() => cleanup.run())
afterAll(() => dropCertSet(c))

async function endpoints(type: 'udp4' | 'udp6', address: string): Promise<{ childUdp: UdpEndpoint; parentUdp: UdpEndpoint }> {
  const childUdp = cleanup.add(new UdpEndpoint({ type, address }))
  const parentUdp = cleanup.add(new UdpEndpoint({ type, address }))
  await Promise.all([childUdp.listen(), parentUdp.listen()])
  return { childUdp, parentUdp }
}

/** connId of the endpoint's only channel (the endpoint keys them by connId). */
function channelOf(ep: UdpEndpoint): Buffer {
  const keys = [...(ep as unknown as { channels: Map<string, unknown> }).channels.keys()]
  expect(keys).toHaveLength(1)
  return Buffer.from(keys[0]!, 'latin1')
}

describe('UDP under a link', () => {
  for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']] as const) {
    it(`sets up over TLS and carries messages over ${type}, exactly once and in order`, async () => {
      const { server, client } = await connectPair(c, cleanup, { caps: ['udp'] }, { caps: ['udp'], host })
      const { childUdp, parentUdp } = await endpoints(type, host)
      const stopServing = serveUdp(server, childUdp)
      const ch = await startUdp(client, parentUdp)
      expect(ch).not.toBeNull()
      expect(client.stats().datagram).toBe(true)
      const atServer = collect(server)
      const atClient = collect(client)
      for (let i = 0; i < 500; i++) {
        client.send({ i, big: i % 100 === 0 ? Buffer.alloc(100_000) : null }) // >64 KiB goes over TLS
        server.send({ i })
      }
      await Promise.all([atServer.until(500), atClient.until(500)])
      expect(atServer.values.map((m) => m.i)).toEqual([...Array(500).keys()])
      expect(atClient.values.map((m) => m.i)).toEqual([...Array(500).keys()])
      expect(ch!.stats().messagesSent).toBe(495)
      expect(server.stats().datagram).toBe(true)
      stopServing()
    })
  }

  it("starts the channel's RTT estimate from the link's heartbeat RTT (both ends), so its first probe timeouts fit the path", async () => {
    const hb = { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 1000 }
    const { server, client } = await connectPair(c, cleanup, { caps: ['udp'], ...hb }, { caps: ['udp'], ...hb })
    await Promise.all([waitEvent(client, 'rtt'), waitEvent(server, 'rtt')])
    const { childUdp, parentUdp } = await endpoints('udp4', '127.0.0.1')
    const stopServing = serveUdp(server, childUdp)
    const linkRtt = client.stats().rttMs!
    const ch = (await startUdp(client, parentUdp))!
    // No UDP round trip yet: the estimate is the link's (clamped to the channel's 0.1 ms minimum).
    expect(ch.stats().srttMs).toBe(Math.max(linkRtt, 0.1))
    const childCh = childUdp.channel(ch.connId)!
    expect(childCh.stats().srttMs).toBeGreaterThan(0)
    expect(childCh.stats().srttMs).not.toBe(10) // not the built-in 10 ms default
    // Explicit tuning wins over the link's figure.
    stopServing()
    const other = await endpoints('udp4', '127.0.0.1')
    serveUdp(server, other.childUdp, { initialRttMs: 42 })
    const tuned = (await startUdp(client, other.parentUdp, { tuning: { initialRttMs: 7 } }))!
    expect(tuned.stats().srttMs).toBe(7)
    expect(other.childUdp.channel(tuned.connId)!.stats().srttMs).toBe(42)
  })

  it('falls back to TLS when the channel dies, and autoUdp sets it up again after a reconnect', async () => {
    const { server, client } = await connectPair(c, cleanup, { caps: ['udp'] }, { caps: ['udp'] })
    const { childUdp, parentUdp } = await endpoints('udp4', '127.0.0.1')
    serveUdp(server, childUdp)
    const errors: Error[] = []
    const udpUp = waitEvent(client, 'datagramUp')
    autoUdp(client, parentUdp, { onError: (e) => errors.push(e) })
    await udpUp
    const atServer = collect(server)
    for (let i = 0; i < 100; i++) client.send(i)
    await atServer.until(100)
    expect(client.stats().datagram).toBe(true)
    // kill the UDP path under the client: it tells the child, and both fall back to TLS
    const fellBack = Promise.all([waitEvent(client, 'datagramDown'), waitEvent(server, 'datagramDown')])
    parentUdp.channel(channelOf(parentUdp))!.close()
    await fellBack
    for (let i = 100; i < 200; i++) client.send(i)
    await atServer.until(200)
    expect(client.stats().datagram).toBe(false)
    // a reconnect brings UDP back automatically
    const again = Promise.all([waitEvent(client, 'up', (e) => e.resumed), waitEvent(client, 'datagramUp'), waitEvent(server, 'datagramUp')])
    client.destroyTransport('cut')
    await again
    for (let i = 200; i < 300; i++) client.send(i)
    await atServer.until(300)
    expect(atServer.values).toEqual([...Array(300).keys()])
    expect(errors).toEqual([])
  })
})

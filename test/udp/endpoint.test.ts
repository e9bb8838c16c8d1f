import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { OptionsError } from '../../src/errors.js'
import { UdpEndpoint, type UdpChannel } from '../../src/net/udp/index.js'
import { collect, randomKeys, until } from './udp-helper.js'

describe('UdpEndpoint', () => {
  it('demultiplexes several peers on one server socket by connId', async () => {
    const server = new UdpEndpoint({ type: 'udp6', address: '::1' })
    const { port } = await server.listen()
    const clients = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const ep = new UdpEndpoint({ type: 'udp6', address: '::1' })
        const a = await ep.listen()
        const connId = randomBytes(8)
        const keys = randomKeys()
        const sc = server.createChannel({ remote: { address: '::1', port: a.port }, connId, keys: keys.server, role: 'server' })
        const cc = ep.createChannel({ remote: { address: '::1', port }, connId, keys: keys.client, role: 'client' })
        return { i, ep, sc, cc, connId }
      }),
    )
    try {
      expect(server.stats().channels).toBe(3)
      const msgs = (i: number) => Array.from({ length: 50 }, (_, k) => Buffer.from(`peer${i}-${k}`))
      const rx = clients.map((c) => collect(c.sc, msgs(c.i)))
      for (const c of clients) for (const m of msgs(c.i)) c.cc.send(m)
      await Promise.all(rx.map((r) => r.done))
      // After unregistering, that peer's datagrams are counted as unknown and go nowhere.
      expect(server.unregister(clients[0]!.connId)).toBe(true)
      expect(server.channel(clients[0]!.connId)).toBeUndefined()
      clients[0]!.cc.send(Buffer.from('into the void'))
      await until(() => server.stats().droppedUnknown > 0)
      expect(clients[1]!.sc.stats().droppedAuth).toBe(0)
    } finally {
      await Promise.all(clients.map((c) => c.ep.close()))
      await server.close()
    }
  })

  it('refuses a second channel with the same connId or a foreign socket', async () => {
    const a = new UdpEndpoint({ type: 'udp4', address: '127.0.0.1' })
    const b = new UdpEndpoint({ type: 'udp4', address: '127.0.0.1' })
    await Promise.all([a.listen(), b.listen()])
    try {
      const connId = randomBytes(8)
      const opts = { remote: { address: '127.0.0.1', port: 9 }, connId, keys: randomKeys().client, role: 'client' as const }
      const ch = a.createChannel(opts)
      expect(() => a.createChannel(opts)).toThrow(OptionsError)
      expect(() => b.register(ch)).toThrow(/socket/)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('close() kills its channels with reason endpoint-closed', async () => {
    const a = new UdpEndpoint({ type: 'udp4', address: '127.0.0.1' })
    await a.listen()
    const ch: UdpChannel = a.createChannel({ remote: { address: '127.0.0.1', port: 9 }, connId: randomBytes(8), keys: randomKeys().client, role: 'client' })
    const reasons: string[] = []
    ch.on('dead', (r) => reasons.push(r))
    await a.close()
    expect(reasons).toEqual(['endpoint-closed'])
    expect(ch.send(Buffer.from('x'))).toBe(false)
    await a.close() // idempotent
  })

  it('rejects listen() when the port is taken, and bad options up front', async () => {
    const a = new UdpEndpoint({ type: 'udp4', address: '127.0.0.1' })
    const { port } = await a.listen()
    const b = new UdpEndpoint({ type: 'udp4', address: '127.0.0.1', port })
    try {
      await expect(b.listen()).rejects.toThrow(/EADDRINUSE/)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
    expect(() => new UdpEndpoint({ type: 'tcp' as never })).toThrow(OptionsError)
    expect(() => new UdpEndpoint({ type: 'udp4', port: 70000 })).toThrow(/udp\.port/)
  })
})

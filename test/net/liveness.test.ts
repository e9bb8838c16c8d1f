import * as tls from 'node:tls'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkClient } from '../../src/net/client.js'
import { LinkServer } from '../../src/net/server.js'
import { BackpressureError } from '../../src/net/errors.js'
import { Cleanup, clientOpts, collect, dropCertSet, makeCertSet, makeRelay, serverOpts, waitEvent, type CertSet } from './_support.js'

let c: CertSet
const cleanup = new Cleanup()
beforeAll(() => {
  c = makeCertSet()
})
afterEach(() => cleanup.run())
afterAll(() => dropCertSet(c))

async function relayedPair(extra: { heartbeatIntervalMs?: number; heartbeatTimeoutMs?: number; maxQueuedBytes?: number } = {}) {
  const server = cleanup.add(new LinkServer(serverOpts(c, { heartbeatIntervalMs: extra.heartbeatIntervalMs, heartbeatTimeoutMs: extra.heartbeatTimeoutMs })))
  const { port } = await server.listen()
  const relay = cleanup.add(await makeRelay(port))
  const client = cleanup.add(new LinkClient(clientOpts(c, relay.port, extra)))
  const up = Promise.all([waitEvent(server, 'up'), waitEvent(client, 'up')])
  client.connect()
  await up
  return { server, client, relay }
}

describe('liveness', () => {
  it('both ends detect a peer that stops answering (frozen wire), then resume', async () => {
    const { server, client, relay } = await relayedPair({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 400 })
    const atServer = collect(server)
    const order: string[] = []
    for (const [name, link] of [['server', server], ['client', client]] as const) {
      link.on('down', () => order.push(`${name} down`))
      link.on('up', () => order.push(`${name} up`))
    }
    const downs = Promise.all([waitEvent(server, 'down'), waitEvent(client, 'down')])
    relay.freeze()
    client.send('sent into the void')
    const [ds, dc] = await downs
    // Declared dead by the liveness rule, not by a socket error, and only after the limit passed
    // (the silence each side measured is in the message; no wall-clock bound of the test's own).
    for (const d of [ds, dc]) {
      expect(d.error.reason).toBe('LIVENESS')
      const silent = Number(/no data from the peer for (\d+) ms \(limit 400 ms\)/.exec(d.error.message)?.[1])
      expect(silent).toBeGreaterThanOrEqual(400)
    }
    expect(server.up).toBe(false)
    expect(client.up).toBe(false)
    // the network heals: the client's reconnect (held by the relay so far) resumes the session
    const resumed = waitEvent(client, 'up', (e) => e.resumed)
    relay.thaw()
    await resumed
    await atServer.until(1)
    expect(atServer.values).toEqual(['sent into the void'])
    expect(order.slice(0, 2).sort()).toEqual(['client down', 'server down'])
    expect(order.slice(2).sort()).toEqual(['client up', 'server up'])
    expect(server.stats().resumes).toBe(1)
  })

  it('the client gives up on a server that never sends WELCOME after handshakeTimeoutMs and retries', async () => {
    const silent = tls.createServer({
      cert: c.child.certPem,
      key: c.child.keyPem,
      ca: [c.parent.certPem],
      requestCert: true,
      minVersion: 'TLSv1.3',
    })
    const sockets: tls.TLSSocket[] = []
    silent.on('secureConnection', (s) => sockets.push(s))
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const port = (silent.address() as { port: number }).port
    const client = cleanup.add(new LinkClient(clientOpts(c, port, { handshakeTimeoutMs: 300 })))
    const retry = waitEvent(client, 'reconnecting')
    client.connect()
    const r = await retry
    expect(r.error.code).toBe('TIMEOUT')
    expect(r.error.message).toContain('no WELCOME from 127.0.0.1')
    expect(r.error.message).toContain('within 300 ms')
    expect(r.attempt).toBe(1)
    expect(client.up).toBe(false)
    await client.close()
    for (const s of sockets) s.destroy()
    await new Promise((r2) => silent.close(r2))
  })
})

describe('backpressure', () => {
  it('stops writing when the socket is full, caps queued bytes with BACKPRESSURE, and recovers', async () => {
    const cap = 8 * 1024 * 1024
    const { server, client, relay } = await relayedPair({ heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 20_000, maxQueuedBytes: cap })
    const atServer = collect(server)
    relay.freeze()
    const chunk = Buffer.alloc(64 * 1024, 1)
    let sent = 0
    let error: unknown
    // Fill across ticks so the socket really reports backpressure before the cap is hit.
    while (!error) {
      try {
        for (let i = 0; i < 16; i++) {
          client.send({ i: sent, chunk })
          sent++
        }
      } catch (e) {
        error = e
      }
      await new Promise((r) => setImmediate(r))
    }
    expect(error).toBeInstanceOf(BackpressureError)
    expect((error as BackpressureError).code).toBe('BACKPRESSURE')
    expect((error as BackpressureError).message).toContain(`maxQueuedBytes=${cap}`)
    const st = client.stats()
    expect(st.queuedBytes).toBeLessThanOrEqual(cap)
    expect(st.unsentMessages).toBeGreaterThan(0) // held back by socket backpressure, not written
    expect(sent).toBe(st.queuedMessages)
    const drained = waitEvent(client, 'drain', () => true, 20_000)
    relay.thaw()
    await atServer.until(sent, 20_000)
    expect(atServer.values.map((m) => m.i)).toEqual([...Array(sent).keys()])
    // acks release the queue; 'drain' says send() may be used again
    await drained
    expect(client.stats().queuedBytes).toBeLessThanOrEqual(cap / 2)
    client.send({ i: 'again' })
    await atServer.until(sent + 1)
  })
})

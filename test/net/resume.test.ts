import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkClient } from '../../src/net/client.js'
import { LinkServer } from '../../src/net/server.js'
import { Cleanup, assertExchanging, clientOpts, collect, connectPair, dropCertSet, makeCertSet, makeRelay, serverOpts, waitEvent, type CertSet } from './_support.js'

let c: CertSet
const cleanup = new Cleanup()
beforeAll(() => {
  c = makeCertSet()
})
afterEach(() => cleanup.run())
afterAll(() => dropCertSet(c))

const yieldIo = (): Promise<void> => new Promise((r) => setImmediate(r))
const range = (n: number): number[] => [...Array(n).keys()]

/** Polls a condition that has no event of its own. */
async function untilTrue(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Streams 1000 numbered messages each way, cutting the wire under the link `cuts` times while
 * frames are in flight, and checks each side got every message exactly once, in order.
 */
async function streamWithCuts(server: LinkServer, client: LinkClient, cutSide: 'client' | 'server' | 'both', cuts: number): Promise<void> {
  const atServer = collect(server)
  const atClient = collect(client)
  const total = 1000
  const cutAt = new Set(range(cuts).map((i) => Math.floor(((i + 1) * total) / (cuts + 2))))
  let cutNo = 0
  for (let i = 0; i < total; i++) {
    client.send({ n: i, from: 'parent' })
    server.send({ n: i, from: 'child' })
    if (i % 40 === 39) await yieldIo() // let frames reach the wire and acks come back
    if (cutAt.has(i)) {
      // Make sure the cut lands mid-stream: some delivered, some in flight, more to come.
      await atServer.until(Math.floor(i / 2))
      const back = Promise.all([waitEvent(client, 'up', (e) => e.resumed), waitEvent(server, 'up', (e) => e.resumed)])
      const side = cutSide === 'both' ? (cutNo++ % 2 === 0 ? 'client' : 'server') : cutSide
      ;(side === 'client' ? client : server).destroyTransport(`test cut at ${i}`)
      // keep sending while it is down: these are queued and delivered after the resume
      for (let k = 0; k < 5 && i + 1 < total; k++) {
        i++
        client.send({ n: i, from: 'parent' })
        server.send({ n: i, from: 'child' })
      }
      await back
    }
  }
  await Promise.all([atServer.until(total), atClient.until(total)])
  expect(atServer.values.map((m) => m.n)).toEqual(range(total))
  expect(atClient.values.map((m) => m.n)).toEqual(range(total))
  // nothing more arrives later (no duplicate delivered after the count was reached)
  await assertExchanging(client, server, 'after')
  expect(atServer.values).toHaveLength(total + 1)
  expect(atClient.values).toHaveLength(total + 1)
}

describe('reliable sessions across reconnects', () => {
  it('delivers 1000 messages each way exactly once and in order when the client cuts the wire', async () => {
    const { server, client } = await connectPair(c, cleanup)
    const sessions: unknown[] = []
    server.on('session', (s) => sessions.push(s))
    await streamWithCuts(server, client, 'client', 1)
    expect(sessions).toHaveLength(0) // resumed, never a new session
    const s = client.stats()
    expect(s.resumes).toBe(1)
    expect(s.sessionId).toBe(server.stats().sessionId)
    expect(s.queuedMessages).toBeLessThan(1002)
  })

  it('the same when the server cuts the wire, several times, with retransmission and duplicate dropping', async () => {
    const { server, client } = await connectPair(c, cleanup)
    await streamWithCuts(server, client, 'both', 4)
    const sc = server.stats()
    const cc = client.stats()
    expect(sc.resumes).toBe(4)
    expect(cc.resumes).toBe(4)
    expect(sc.retransmitted + cc.retransmitted).toBeGreaterThan(0)
  })

  it('resumes over a half-open connection: the server replaces its stale connection (SUPERSEDED)', async () => {
    const server = cleanup.add(new LinkServer(serverOpts(c, { heartbeatTimeoutMs: 30_000, heartbeatIntervalMs: 10_000 })))
    const { port } = await server.listen()
    const relay = cleanup.add(await makeRelay(port))
    const client = cleanup.add(new LinkClient(clientOpts(c, relay.port)))
    client.connect()
    await Promise.all([waitEvent(server, 'up'), waitEvent(client, 'up')])
    const atServer = collect(server)
    client.send('before')
    await atServer.until(1)
    const serverDowns: unknown[] = []
    server.on('down', (d) => serverDowns.push(d))
    const resumed = waitEvent(server, 'resumed')
    relay.cutClientSide() // the client sees the cut; the server still believes the old connection is up
    client.send('during')
    await resumed
    client.send('after')
    await atServer.until(3)
    expect(atServer.values).toEqual(['before', 'during', 'after'])
    expect(serverDowns).toHaveLength(0)
  })
})

describe('session replacement', () => {
  it('a restarted child cannot resume: the parent gets a new session and its undelivered messages back', async () => {
    const { server, client, port } = await connectPair(c, cleanup, { host: '127.0.0.1' })
    const oldSession = client.stats().sessionId
    await assertExchanging(client, server, 'before-restart')
    const down = waitEvent(client, 'down')
    await server.close('child restarting')
    await down
    client.send('queued-1') // queued while the child is away
    client.send('queued-2')
    const restarted = cleanup.add(new LinkServer(serverOpts(c, { host: '127.0.0.1', port })))
    const session = waitEvent(client, 'session')
    const up = waitEvent(client, 'up')
    await restarted.listen()
    const s = await session
    expect(s.previousSessionId).toBe(oldSession)
    expect(s.undelivered).toEqual(['queued-1', 'queued-2'])
    expect((await up).resumed).toBe(false)
    expect(client.stats().queuedMessages).toBe(0)
    await assertExchanging(client, restarted, 'after-restart')
  })
})

describe('one parent at a time', () => {
  it('refuses a second parent with a reason while the first stays attached and working', async () => {
    const { server, client, port } = await connectPair(c, cleanup)
    const atServer = waitEvent(server, 'refused', (e) => e.code === 'ALREADY_ATTACHED')
    const other = cleanup.add(new LinkClient(clientOpts(c, port, { nodeId: 'parent-2', tls: { cert: c.parent2.certPath, key: c.parent2.keyPath, trust: [c.child.certPath] } })))
    const atOther = waitEvent(other, 'refused')
    other.connect()
    const [rs, ro] = await Promise.all([atServer, atOther])
    expect(rs.reason).toContain('a parent is already attached')
    expect(rs.remoteAddress).toBe('127.0.0.1')
    expect(ro.code).toBe('ALREADY_ATTACHED')
    expect(ro.reason).toContain('a parent is already attached (')
    expect(ro.error.remote).toBe(true)
    expect(other.up).toBe(false)
    await assertExchanging(client, server, 'first-still-works')
    expect(server.peerInfo?.nodeId).toBe('parent-1')
  })

  it('a restarted parent (new session) is refused while the old link is up and attaches once it is gone', async () => {
    const { server, client, port } = await connectPair(c, cleanup)
    const atClient = collect(client)
    server.send('old-1')
    await atClient.until(1)
    // 'old-1' counts as delivered once its (delayed) ACK is back; until then a lost link would return it
    // as undelivered, rightly. The ACK has no event: poll the server's queue.
    await untilTrue(() => server.stats().queuedMessages === 0)
    // The "restarted" parent: same certificate, new process, so a new session.
    const restarted = cleanup.add(new LinkClient(clientOpts(c, port, { nodeId: 'parent-1' })))
    const refused = waitEvent(restarted, 'refused', (e) => e.code === 'ALREADY_ATTACHED')
    restarted.connect()
    await refused
    // The old parent dies without a GOAWAY; the child queues for it meanwhile.
    const down = waitEvent(server, 'down')
    client.destroyTransport('old parent crashed')
    await client.close()
    await down
    server.send('pending-for-old-parent')
    const session = waitEvent(server, 'session')
    const up = waitEvent(restarted, 'up')
    const s = await session
    expect(s.previousSessionId).not.toBeNull()
    expect(s.previousSessionId).not.toBe(s.sessionId)
    expect(s.undelivered).toEqual(['pending-for-old-parent'])
    expect((await up).resumed).toBe(false)
    await assertExchanging(restarted, server, 'readopted')
  })
})

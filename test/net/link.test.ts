import * as tls from 'node:tls'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkClient } from '../../src/net/client.js'
import { LinkServer } from '../../src/net/server.js'
import { ListenError, LinkClosedError } from '../../src/net/errors.js'
import { Cleanup, FAST, assertExchanging, clientOpts, collect, connectPair, dropCertSet, helloFrame, makeCertSet, serverOpts, waitEvent, type CertSet } from './_support.js'

let c: CertSet
const cleanup = new Cleanup()
beforeAll(() => {
  c = makeCertSet()
})
afterEach(() => cleanup.run())
afterAll(() => dropCertSet(c))

describe('LinkServer / LinkClient over mutual TLS', () => {
  it('comes up after WELCOME and carries messages both ways (IPv4)', async () => {
    const server = cleanup.add(new LinkServer(serverOpts(c, { info: { childVersion: '1.0' } })))
    const { port, addresses } = await server.listen()
    expect(addresses).toEqual([`[::]:${port}`])
    const client = cleanup.add(new LinkClient(clientOpts(c, port, { info: () => ({ parentId: 'p-1' }) })))
    const sessions = waitEvent(server, 'session')
    const serverUp = waitEvent(server, 'up')
    const clientUp = waitEvent(client, 'up')
    client.send({ early: true }) // queued before the first session: delivered in it
    client.connect()
    const [s, su, cu] = await Promise.all([sessions, serverUp, clientUp])
    expect(s.previousSessionId).toBeNull()
    expect(su.peer).toMatchObject({ label: c.parent.certPath, fingerprint: c.parent.fingerprint, nodeId: 'parent-1', info: { parentId: 'p-1' }, remoteAddress: '127.0.0.1' })
    expect(cu).toMatchObject({ resumed: false, caps: ['resume'], sessionId: s.sessionId })
    expect(cu.peer).toMatchObject({ label: c.child.certPath, nodeId: 'child-a', info: { childVersion: '1.0' } })
    const atServer = collect(server)
    const atClient = collect(client)
    for (let i = 0; i < 100; i++) client.send({ v: 1, op: 'req', id: i, d: { n: i, buf: Buffer.from([i]) } })
    for (let i = 0; i < 100; i++) server.send({ v: 1, op: 'res', id: i, d: { ok: true, u: undefined } })
    await Promise.all([atServer.until(101), atClient.until(100)])
    expect(atServer.values[0]).toEqual({ early: true })
    expect(atServer.values.slice(1).map((m) => m.id)).toEqual([...Array(100).keys()])
    expect(atServer.values[5].d.buf).toEqual(Buffer.from([4]))
    expect(atClient.values[0]).toStrictEqual({ v: 1, op: 'res', id: 0, d: { ok: true } })
    expect(server.up && client.up).toBe(true)
    const st = client.stats()
    expect(st).toMatchObject({ up: true, messagesSent: 101, messagesReceived: 100, connects: 1, newSessions: 1, resumes: 0 })
    expect(st.bytesOut).toBeGreaterThan(0)
  })

  it('works over IPv6 ::1 and reports RTT', async () => {
    const { server, client } = await connectPair(c, cleanup, {}, { host: '::1' })
    expect(server.stats().peer?.remoteAddress).toBe('::1')
    await assertExchanging(client, server, 'v6')
    const rtt = await waitEvent<number>(client, 'rtt')
    expect(rtt).toBeGreaterThan(0)
    expect(client.stats().rttMs).toBe(rtt)
  })

  it('accepts a server certificate without an IP SAN when dialled by IP (pinning), and DNS names with SNI', async () => {
    const tlsServer = { cert: c.dnsOnly.certPath, key: c.dnsOnly.keyPath, trust: [c.parent.certPath] }
    const server = cleanup.add(new LinkServer(serverOpts(c, { tls: tlsServer, host: '127.0.0.1' })))
    const { port } = await server.listen()
    const client = cleanup.add(new LinkClient(clientOpts(c, port, { tls: { cert: c.parent.certPath, key: c.parent.keyPath, trust: [c.dnsOnly.certPath] } })))
    client.connect()
    await waitEvent(client, 'up')
    await assertExchanging(client, server, 'dns-only')
    const byName = cleanup.add(new LinkServer(serverOpts(c, { host: '127.0.0.1' })))
    const p2 = (await byName.listen()).port
    const viaLocalhost = cleanup.add(new LinkClient(clientOpts(c, p2, { host: 'localhost' })))
    viaLocalhost.connect()
    await waitEvent(viaLocalhost, 'up')
  })

  it('close() flushes, sends GOAWAY, and the peer surfaces the reason', async () => {
    const { server, client } = await connectPair(c, cleanup)
    const got = collect(server)
    for (let i = 0; i < 50; i++) client.send(i)
    const down = waitEvent(server, 'down')
    const closed = waitEvent(client, 'closed')
    await client.close('parent is upgrading')
    expect(await closed).toEqual({ undelivered: 0 })
    const d = await down
    expect(got.values).toHaveLength(50)
    expect(d.error.reason).toBe('GOAWAY')
    expect(d.error.peerCode).toBe('SHUTDOWN')
    expect(d.error.message).toContain('parent is upgrading')
    expect(() => client.send(1)).toThrow(LinkClosedError)
  })

  it('server close() tells the parent why; the client keeps retrying until closed', async () => {
    const { server, client } = await connectPair(c, cleanup)
    const down = waitEvent(client, 'down')
    const retry = waitEvent(client, 'reconnecting')
    await server.close('child maintenance')
    expect((await down).error.message).toContain('child maintenance')
    expect((await retry).delayMs).toBeLessThanOrEqual(200)
    expect(client.up).toBe(false)
    client.send('queued while down') // must not throw
    expect(client.stats().queuedMessages).toBe(1)
  })

  it("a throwing 'message' listener neither breaks the link nor loses messages", async () => {
    const { server, client } = await connectPair(c, cleanup)
    const errors: unknown[] = []
    server.on('error', (e) => errors.push(e))
    server.once('message', () => {
      throw new Error('listener bug')
    })
    const got = collect(server)
    client.send('first')
    client.send('second')
    await got.until(2)
    expect(got.values).toEqual(['first', 'second'])
    expect(errors).toHaveLength(1)
    expect((errors[0] as Error).message).toBe('listener bug')
    await assertExchanging(client, server, 'after-throw')
  })

  it('authorize() can refuse a pinned parent by its HELLO (e.g. the wrong parent id)', async () => {
    const server = cleanup.add(new LinkServer(serverOpts(c, { authorize: (peer) => ((peer.info as any)?.parentId === 'p-1' ? true : `unknown parent ${JSON.stringify(peer.info)}`) })))
    const { port } = await server.listen()
    const wrong = cleanup.add(new LinkClient(clientOpts(c, port, { info: { parentId: 'p-2' } })))
    const refused = Promise.all([waitEvent(server, 'refused'), waitEvent(wrong, 'refused')])
    wrong.connect()
    const [rs, rc] = await refused
    expect(rs.code).toBe('UNAUTHORIZED_PEER')
    expect(rc.reason).toContain('unknown parent {"parentId":"p-2"}')
    await wrong.close()
    const right = cleanup.add(new LinkClient(clientOpts(c, port, { info: { parentId: 'p-1' } })))
    right.connect()
    await waitEvent(right, 'up')
  })

  it("rejectUnauthorized: false (debugging) still requires a pinned certificate; dhparam is passed through", async () => {
    const server = cleanup.add(new LinkServer(serverOpts(c, { tls: { ...serverOpts(c).tls, rejectUnauthorized: false, dhparam: 'auto' } })))
    const { port } = await server.listen()
    // expired but pinned: TLS would refuse it, the debugging switch lets it through
    const expiredTls = { cert: c.expired.certPem, key: c.expired.keyPem, trust: [c.child.certPath] }
    const sock = tls.connect({ host: '127.0.0.1', port, cert: expiredTls.cert, key: expiredTls.key, ca: [c.child.certPem], minVersion: 'TLSv1.3', checkServerIdentity: () => undefined })
    await waitEvent(sock, 'secureConnect')
    const up = waitEvent(server, 'up')
    sock.write(helloFrame())
    expect((await up).peer.label).toBe(c.expired.certPath)
    sock.destroy()
    // a certificate that is not pinned is still refused
    const refused = waitEvent(server, 'refused')
    const stranger = tls.connect({ host: '127.0.0.1', port, cert: c.stranger.certPem, key: c.stranger.keyPem, ca: [c.child.certPem], minVersion: 'TLSv1.3', checkServerIdentity: () => undefined })
    stranger.on('error', () => {})
    const r = await refused
    expect(r.code).toBe('NOT_PINNED')
    stranger.destroy()
  })

  it('a port in use is a clear error naming host:port', async () => {
    const a = cleanup.add(new LinkServer(serverOpts(c, { host: '127.0.0.1' })))
    const { port } = await a.listen()
    const b = new LinkServer(serverOpts(c, { host: '127.0.0.1', port }))
    const err = await b.listen().catch((e) => e)
    expect(err).toBeInstanceOf(ListenError)
    expect(err.code).toBe('ADDRESS_IN_USE')
    expect(err.message).toContain(`127.0.0.1:${port}`)
    await b.close()
  })

  it('refuses oversized messages at send() and reports bad options by field', () => {
    const client = new LinkClient(clientOpts(c, 1, { maxFrameBytes: 4096 }))
    expect(() => client.send('x'.repeat(5000))).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }))
    expect(() => new LinkClient(clientOpts(c, 1, { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 1500 }))).toThrow(/heartbeatTimeoutMs/)
    expect(() => new LinkServer(serverOpts(c, { requestCert: false }))).toThrow(/requestCert/)
    expect(() => new LinkClient(clientOpts(c, 1, { tls: { cert: c.expired.certPath, key: c.expired.keyPath, trust: [c.child.certPath], fields: { cert: 'machines.points[0].tls.public' } } })))
      .toThrow(expect.objectContaining({ field: 'machines.points[0].tls.public', problem: 'EXPIRED' }))
    expect(FAST.heartbeatIntervalMs).toBe(200)
  })
})

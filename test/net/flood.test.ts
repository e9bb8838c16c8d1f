/**
 * Connections that never prove who they are, with real sockets on loopback: idle sockets, a
 * trickled ClientHello, floods from the real parent's own address and from several addresses,
 * a second trusted certificate holding handshakes open. The child must close them all within
 * its deadline, keep them bounded, report refusals rate-limited, and never lock the parent out.
 */
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkClient } from '../../src/net/client.js'
import { LinkServer, type LinkServerOptions } from '../../src/net/server.js'
import type { RefusedEvent } from '../../src/net/client.js'
import type { UpEvent } from '../../src/net/link.js'
import { Cleanup, clientOpts, dropCertSet, helloFrame, makeCertSet, rawTls, serverOpts, waitEvent, type CertSet } from './_support.js'

let c: CertSet
const cleanup = new Cleanup()
beforeAll(() => {
  c = makeCertSet()
})
afterEach(() => cleanup.run())
afterAll(() => dropCertSet(c))

async function listening(extra: Partial<LinkServerOptions>): Promise<{ server: LinkServer; port: number; refused: RefusedEvent[] }> {
  const server = cleanup.add(new LinkServer(serverOpts(c, extra)))
  const refused: RefusedEvent[] = []
  server.on('refused', (e: RefusedEvent) => refused.push(e))
  const { port } = await server.listen()
  return { server, port, refused }
}

/** A TCP connection that says nothing; resolves once connected. */
function idle(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s))
    s.on('error', () => {})
    s.once('error', reject)
    cleanup.add(s)
  })
}

const closed = (s: Socket): Promise<void> => (s.destroyed ? Promise.resolve() : new Promise((r) => s.once('close', () => r())))

/** Resolves once the server has accepted `n` connections in total. */
function accepted(server: LinkServer, n: number): Promise<void> {
  const srv = (server as unknown as { servers: import('node:net').Server[] }).servers[0]!
  let seen = 0
  return new Promise((resolve) => {
    srv.on('connection', () => {
      if (++seen === n) resolve()
    })
  })
}

/**
 * The dialling side of the crowd test, a script run in its own process: 5 idle sockets, a trusted
 * TLS client, 55 more idle sockets; once all are connected (the ClientHello is out) it stops
 * until `release` exists, so the TLS client stays mid-handshake while the listener sorts the crowd.
 */
const DIALLER = `
const net = require('node:net'), tls = require('node:tls'), fs = require('node:fs')
const [port, cert, key, ca, hello, dialledMark, releaseMark] = process.argv.slice(1)
let pending = 61
const dialled = () => {
  if (--pending > 0) return
  // after this tick, so every 'connect' listener ran and the ClientHello is written
  setImmediate(() => {
    fs.writeFileSync(dialledMark, 'x')
    const until = Date.now() + 30000
    while (!fs.existsSync(releaseMark) && Date.now() < until);
  })
}
// Ends with the test: when its stdin (a pipe from the test process) closes, or after a minute.
process.stdin.on('close', () => process.exit(0)).resume()
setTimeout(() => process.exit(0), 60000)
const idle = () => net.connect(+port, '127.0.0.1', dialled).on('error', () => {})
for (let i = 0; i < 5; i++) idle()
const p = tls.connect({ port: +port, host: '127.0.0.1', cert: fs.readFileSync(cert), key: fs.readFileSync(key), ca: fs.readFileSync(ca), minVersion: 'TLSv1.3', checkServerIdentity: () => undefined })
p.once('connect', dialled)
p.once('secureConnect', () => p.write(Buffer.from(hello, 'hex')))
p.on('error', () => {})
for (let i = 0; i < 55; i++) idle()
`

describe('deadline from accept to HELLO', () => {
  it('closes an idle socket that never starts TLS', async () => {
    const { port, refused } = await listening({ handshakeTimeoutMs: 300 })
    const s = await idle(port)
    await closed(s)
    expect(refused.map((r) => r.code)).toContain('HANDSHAKE_TIMEOUT')
    expect(refused.find((r) => r.code === 'HANDSHAKE_TIMEOUT')!.reason).toContain('no TLS handshake within 300 ms (0 bytes received)')
  })

  it('closes a socket trickling its ClientHello one byte at a time', async () => {
    const { port, refused } = await listening({ handshakeTimeoutMs: 400 })
    const s = await idle(port)
    // the first bytes of a TLS 1.3 ClientHello record, one every 50 ms: always "in progress"
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...Array(200).fill(7)])
    let i = 0
    const drip = setInterval(() => {
      if (!s.destroyed) s.write(hello.subarray(i, ++i))
    }, 50)
    await closed(s)
    clearInterval(drip)
    const r = refused.find((e) => e.code === 'HANDSHAKE_TIMEOUT')!
    expect(r.reason).toMatch(/no TLS handshake within 400 ms \([1-9]\d* bytes received\)/)
    expect(i).toBeLessThan(hello.length) // closed long before the hello was complete
  })
})

describe('caps on unauthenticated connections', () => {
  it("a flood from the parent's own address evicts its oldest sockets, and the parent still connects", async () => {
    const { server, port, refused } = await listening({ maxUnauthenticatedPerAddress: 10, maxUnauthenticated: 50, handshakeTimeoutMs: 30_000 })
    const all = accepted(server, 100)
    const flood: Socket[] = []
    for (let i = 0; i < 100; i++) flood.push(await idle(port))
    await all
    // the 90 oldest were closed, the 10 newest are still open
    await Promise.all(flood.slice(0, 90).map(closed))
    expect(server.connectionCounts().unauthenticated).toBe(10)
    expect(flood.slice(90).every((s) => !s.destroyed)).toBe(true)
    expect(refused.filter((r) => r.code === 'EVICTED')).toHaveLength(90)
    expect(refused[0]!.reason).toContain('closed to make room for a newer connection (maxUnauthenticatedPerAddress=10 from 127.0.0.1)')
    // the real parent, from the same address, while the flood holds its 10 slots
    const client = cleanup.add(new LinkClient(clientOpts(c, port)))
    const up = Promise.all([waitEvent(client, 'up'), waitEvent(server, 'up')])
    client.connect()
    await up
    expect(server.connectionCounts()).toMatchObject({ unauthenticated: 9, pendingHello: 0 })
  })

  it('in a crowd of idle sockets from its address, the parent mid-handshake is never the one evicted', async () => {
    const { server, port, refused } = await listening({ maxUnauthenticatedPerAddress: 10, maxUnauthenticated: 50, handshakeTimeoutMs: 30_000 })
    const dialledMark = join(c.dir, 'dialled')
    const releaseMark = join(c.dir, 'release')
    const up = waitEvent<UpEvent>(server, 'up', () => true, 20_000)
    const all = accepted(server, 61)
    let evicted = 0
    const evictedAll = new Promise<void>((resolve) => server.on('refused', (e: RefusedEvent) => e.code === 'EVICTED' && ++evicted === 51 && resolve()))
    const dialler = spawn(process.execPath, ['-e', DIALLER, String(port), c.parent.certPath, c.parent.keyPath, c.child.certPath, helloFrame().toString('hex'), dialledMark, releaseMark], { stdio: ['pipe', 'ignore', 'ignore'] })
    cleanup.add({ close: () => dialler.kill('SIGKILL') })
    // The listener (this process) waits, blocked, until all 61 are dialled and the ClientHello is
    // sent: then it meets them as a crowd already queued, as a busy child would.
    const until = Date.now() + 15_000
    while (!existsSync(dialledMark) && Date.now() < until);
    expect(existsSync(dialledMark)).toBe(true)
    // 61 connections, 10 slots: 51 evictions while the parent's handshake is held up in the dialler
    await Promise.all([all, evictedAll])
    expect(server.connectionCounts().unauthenticated).toBe(10) // the parent and the 9 newest idle ones
    writeFileSync(releaseMark, 'x')
    const u = await up
    expect(u.peer.nodeId).toBe('raw-parent')
    expect(refused.filter((r) => r.code !== 'EVICTED')).toEqual([])
    expect(refused.every((r) => r.reason.startsWith('refusing 127.0.0.1: TLS handshake not finished'))).toBe(true)
  })

  it('caps all addresses together, evicting the oldest', async () => {
    const { server, port } = await listening({ maxUnauthenticatedPerAddress: 10, maxUnauthenticated: 20, handshakeTimeoutMs: 30_000 })
    const all = accepted(server, 25)
    const from2: Socket[] = []
    const from3: Socket[] = []
    for (let i = 0; i < 10; i++) from2.push(await idle(port, '127.0.0.2'))
    for (let i = 0; i < 10; i++) from3.push(await idle(port, '127.0.0.3'))
    const from4: Socket[] = []
    for (let i = 0; i < 5; i++) from4.push(await idle(port, '127.0.0.4'))
    await all
    await Promise.all(from2.slice(0, 5).map(closed))
    expect(server.connectionCounts()).toMatchObject({ unauthenticated: 20, addresses: 3 })
    expect([...from2.slice(5), ...from3, ...from4].every((s) => !s.destroyed)).toBe(true)
  })

  it('a silent socket goes before one that has started its handshake', async () => {
    const { server, port } = await listening({ maxUnauthenticatedPerAddress: 3, handshakeTimeoutMs: 30_000 })
    const all = accepted(server, 3)
    const started = await idle(port)
    started.write(Buffer.from([0x16]))
    const quiet = [await idle(port), await idle(port)]
    await all
    const fourth = accepted(server, 1)
    await idle(port)
    await fourth
    await closed(quiet[0]!)
    expect(started.destroyed).toBe(false)
  })

  it('a second trusted certificate holding handshakes open cannot delay the parent: slots are per certificate', async () => {
    const { server, port, refused } = await listening({ maxPendingHandshakes: 4, handshakeTimeoutMs: 30_000 })
    // parent2 is trusted too; it finishes TLS and never says HELLO
    const held = []
    for (let i = 0; i < 12; i++) held.push(cleanup.add(await rawTls(port, { cert: c.parent2, ca: [c.child.certPem] })))
    await Promise.all(held.slice(0, 8).map((s) => closed(s as unknown as Socket)))
    expect(server.connectionCounts().pendingHello).toBe(4)
    expect(refused.filter((r) => r.code === 'EVICTED')).toHaveLength(8)
    expect(refused[0]!.reason).toMatch(/no HELLO yet; closed to make room .*maxPendingHandshakes=4 for certificate .*parent2/)
    const client = cleanup.add(new LinkClient(clientOpts(c, port)))
    const clientRefused: RefusedEvent[] = []
    client.on('refused', (e: RefusedEvent) => clientRefused.push(e))
    const up = waitEvent(client, 'up')
    client.connect()
    await up
    expect(clientRefused).toEqual([])
    expect(held.slice(8).every((s) => !s.destroyed)).toBe(true)
  })
})

describe('refusal reports', () => {
  it('are rate-limited per address and code, the rest summed up', async () => {
    const { port, refused } = await listening({ refusalsPerSecond: 2, refusalSummaryMs: 1000 })
    const n = 20
    // each socket is refused once (ECONNRESET here, the code depends on how Node sees the close)
    const total = () => refused.reduce((sum, r) => sum + (r.suppressed ?? 1), 0)
    const done = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (total() >= n) {
          clearInterval(check)
          resolve()
        }
      }, 20)
    })
    for (let i = 0; i < n; i++) (await idle(port)).destroy()
    await done
    expect(new Set(refused.map((r) => r.code)).size).toBe(1)
    const single = refused.filter((r) => r.suppressed === undefined)
    const summaries = refused.filter((r) => r.suppressed !== undefined)
    // 2 per second: the 20 closes span one or two seconds
    expect(single.length).toBeGreaterThanOrEqual(2)
    expect(single.length).toBeLessThanOrEqual(4)
    expect(summaries.length).toBeGreaterThan(0)
    expect(summaries[0]!.reason).toMatch(/^\d+ more refused from 127\.0\.0\.1 in the last 1 s \([A-Z_]+\)$/)
    expect(total()).toBe(n)
  })
})

describe('options', () => {
  it('validates the limits, naming the field', () => {
    const bad = (o: Partial<LinkServerOptions>) => () => new LinkServer(serverOpts(c, { fieldPrefix: 'machines.', ...o }))
    expect(bad({ maxUnauthenticated: 0 })).toThrow('machines.maxUnauthenticated: expected an integer in 1..1000000, got 0')
    expect(bad({ maxPendingHandshakes: 1.5 })).toThrow('machines.maxPendingHandshakes: expected an integer')
    expect(bad({ refusalsPerSecond: -1 })).toThrow('machines.refusalsPerSecond')
    expect(bad({ refusalSummaryMs: 10 })).toThrow('machines.refusalSummaryMs: expected an integer in 100..3600000, got 10')
    expect(bad({ maxUnauthenticated: 10, maxUnauthenticatedPerAddress: 20 })).toThrow(
      'machines.maxUnauthenticatedPerAddress: must not exceed maxUnauthenticated (10), got 20',
    )
    expect(bad({ handshakeTimeoutMs: 0 })).toThrow('machines.handshakeTimeoutMs')
    // a global cap below the default per-address cap lowers it
    const s = new LinkServer(serverOpts(c, { maxUnauthenticated: 5 }))
    expect((s as any).limits).toMatchObject({ maxUnauthenticated: 5, maxUnauthenticatedPerAddress: 5, handshakeTimeoutMs: 2000 })
    expect((new LinkServer({ ...serverOpts(c), handshakeTimeoutMs: undefined }) as any).limits.handshakeTimeoutMs).toBe(5000)
  })
})

/**
 * Hostile or broken peers. In every case the server must stay up, emit a 'refused' event with a
 * useful reason, and the legitimately attached parent must keep exchanging messages.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkClient } from '../../src/net/client.js'
import { LinkServer } from '../../src/net/server.js'
import { FrameType } from '../../src/net/constants.js'
import { decodePayload, encodeEmptyFrame, encodeFrame, parseFrame } from '../../src/net/frame.js'
import type { RefusedEvent } from '../../src/net/client.js'
import { Cleanup, assertExchanging, clientOpts, connectPair, dropCertSet, helloFrame, makeCertSet, rawTls, untilClosed, waitEvent, type CertSet } from './_support.js'

let c: CertSet
const cleanup = new Cleanup()
let server: LinkServer
let client: LinkClient
let port: number

beforeAll(async () => {
  c = makeCertSet()
  ;({ server, client, port } = await connectPair(c, cleanup))
})
afterAll(async () => {
  await cleanup.run()
  dropCertSet(c)
})

let probe = 0
afterEach(async () => {
  expect(server.up).toBe(true)
  expect(client.up).toBe(true)
  await assertExchanging(client, server, `after-attack-${probe++}`)
})

const refusal = (pred: (e: RefusedEvent) => boolean = () => true): Promise<RefusedEvent> => waitEvent<RefusedEvent>(server, 'refused', pred)

describe('TLS-level refusals', () => {
  it('a client without a certificate: refused after TLS with a GOAWAY that says why', async () => {
    const refused = refusal((e) => e.code === 'NO_CERTIFICATE')
    const s = await rawTls(port, { ca: [c.child.certPem] })
    const received = await untilClosed(s)
    const r = await refused
    expect(r.reason).toContain('presented no certificate')
    expect(r.remoteAddress).toBe('127.0.0.1')
    expect(received[4]).toBe(FrameType.GOAWAY)
    expect(decodePayload(parseFrame(received.subarray(4)))).toEqual({ code: 'CERTIFICATE_REFUSED', reason: expect.stringContaining('no client certificate was sent') })
  })

  it('a client certificate that is not in the trust list: the parent is told which list to fix', async () => {
    const refused = refusal((e) => e.code === 'NOT_PINNED')
    const stranger = cleanup.add(new LinkClient(clientOpts(c, port, { tls: { cert: c.stranger.certPath, key: c.stranger.keyPath, trust: [c.child.certPath] } })))
    const atStranger = waitEvent<RefusedEvent>(stranger, 'refused')
    stranger.connect()
    const [r, rs] = await Promise.all([refused, atStranger])
    expect(r.reason).toContain('is not in the trust list')
    // TLS 1.3: the client saw secureConnect; the child's GOAWAY says what is wrong
    expect(rs.code).toBe('CERTIFICATE_REFUSED')
    expect(rs.error.remote).toBe(true)
    expect(rs.reason).toMatch(/refused our certificate: certificate SHA-256 [0-9A-F:]+ is not in the child's trusted list \(--trust\)/)
    await stranger.close()
  })

  it('a child that refuses in TLS without a word (older versions): the parent still says what to check', async () => {
    const tls = await import('node:tls')
    const old = tls.createServer({ cert: c.child.certPem, key: c.child.keyPem, ca: [c.stranger.certPem], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' })
    old.on('tlsClientError', () => {})
    await new Promise<void>((r) => old.listen(0, '127.0.0.1', r))
    const p = cleanup.add(new LinkClient(clientOpts(c, (old.address() as { port: number }).port)))
    const r = waitEvent<RefusedEvent>(p, 'refused')
    p.connect()
    const e = await r
    expect(['HANDSHAKE_CLOSED', 'HANDSHAKE_RESET']).toContain(e.code)
    expect(e.reason).toContain("it probably refused our certificate: check that it is in the child's trusted list (--trust)")
    await p.close()
    await new Promise((res) => old.close(res))
  })

  it('an expired client certificate (even though it is listed)', async () => {
    const refused = refusal((e) => e.code === 'CERT_HAS_EXPIRED')
    const s = await rawTls(port, { cert: c.expired, ca: [c.child.certPem] })
    const received = await untilClosed(s)
    const r = await refused
    expect(r.reason).toContain('expired')
    expect(decodePayload(parseFrame(received.subarray(4)))).toMatchObject({ code: 'CERTIFICATE_REFUSED', reason: expect.stringContaining('has expired (CERT_HAS_EXPIRED)') })
  })

  it('a client certificate whose extendedKeyUsage lacks clientAuth', async () => {
    const refused = refusal((e) => e.code === 'INVALID_PURPOSE')
    const s = await rawTls(port, { cert: c.serverOnly, ca: [c.child.certPem] })
    await untilClosed(s)
    const r = await refused
    expect(r.code).toBe('INVALID_PURPOSE')
    expect(r.reason).toContain('extendedKeyUsage')
  })

  it('the client refuses a server certificate that is not in its trust list', async () => {
    const wrong = cleanup.add(new LinkClient(clientOpts(c, port, { tls: { cert: c.parent2.certPath, key: c.parent2.keyPath, trust: [c.stranger.certPath] } })))
    const refusedAtClient = waitEvent<RefusedEvent>(wrong, 'refused')
    const refusedAtServer = refusal()
    wrong.connect()
    const r = await refusedAtClient
    expect(r.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT')
    expect(r.reason).toContain("peer's certificate is not in this side's trust list")
    expect(r.error.remote).toBe(false)
    await refusedAtServer // the server logs the aborted handshake too
    await wrong.close()
  })
})

describe('protocol-level refusals after a good TLS handshake', () => {
  const legit = (): Promise<import('node:tls').TLSSocket> => rawTls(port, { cert: c.parent2, ca: [c.child.certPem] })

  async function expectGoAway(bytes: Buffer[], code: string, reasonPart: string | RegExp): Promise<void> {
    const refused = refusal((e) => e.code === code)
    const s = await legit()
    const closed = untilClosed(s)
    for (const b of bytes) s.write(b)
    const r = await refused
    expect(r.reason).toMatch(reasonPart)
    const received = await closed
    // the server said why before closing: a GOAWAY frame carrying the same code
    expect(received[4]).toBe(FrameType.GOAWAY)
    expect(received.subarray(10).toString('latin1')).toContain(code)
  }

  it('garbage bytes', () => expectGoAway([Buffer.from('GET / HTTP/1.1\r\nHost: child\r\n\r\n')], 'FRAME_TOO_LARGE', /announces \d+ bytes/))

  it('a frame header announcing 4 GiB', () => {
    const h = Buffer.alloc(10)
    h.writeUInt32BE(0xffffffff, 0)
    h[4] = FrameType.MSG
    return expectGoAway([h], 'FRAME_TOO_LARGE', /4294967295/)
  })

  it('an unknown frame type', () => {
    const f = encodeEmptyFrame(FrameType.PING, 0)
    f[4] = 0x63
    return expectGoAway([f], 'UNKNOWN_FRAME_TYPE', /unknown frame type 99/)
  })

  it('a valid frame that is not HELLO first', () => expectGoAway([encodeFrame(FrameType.MSG, 1, { hi: 1 })], 'UNEXPECTED_FRAME', /expected HELLO, got MSG/))

  it('a HELLO with a malformed payload', () => expectGoAway([helloFrame({ role: 'root', nodeId: 42 })], 'BAD_HANDSHAKE', /role must be/))

  it('a wrong protocol version in HELLO: both sides surface the reason', async () => {
    await expectGoAway([helloFrame({ v: 2, minV: 2 })], 'VERSION_MISMATCH', 'protocol version 2 not supported, this side speaks 1..1')
    const future = cleanup.add(new LinkClient(clientOpts(c, port, { tls: { cert: c.parent2.certPath, key: c.parent2.keyPath, trust: [c.child.certPath] }, protocol: { v: 3, minV: 2 } })))
    const r = waitEvent<RefusedEvent>(future, 'refused')
    future.connect()
    const e = await r
    expect(e.code).toBe('VERSION_MISMATCH')
    expect(e.reason).toContain('protocol versions 2..3 not supported, this side speaks 1..1')
    await future.close()
  })

  it('a resume of a session it does not own is treated as a new session, so refused while attached', () =>
    expectGoAway([helloFrame({ resume: { sessionId: server.stats().sessionId, lastSeq: 0 } })], 'ALREADY_ATTACHED', /already attached/))

  it('silence after TLS (no HELLO) times out', async () => {
    const refused = refusal((e) => e.code === 'HANDSHAKE_TIMEOUT')
    const s = await legit()
    await untilClosed(s)
    expect((await refused).reason).toContain('no HELLO within')
  })

  it('a plain TCP client speaking no TLS', async () => {
    const { connect } = await import('node:net')
    const refused = refusal()
    const s = connect(port, '127.0.0.1', () => s.write('hello?\r\n\r\n'))
    s.on('error', () => {})
    const r = await refused
    expect(r.reason).toMatch(/TLS/)
    s.destroy()
  })
})

/**
 * Malformed input inside an established session (after HELLO/WELCOME), from a trusted peer:
 * nothing may crash either process, and the link keeps serving what is well-formed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkServer } from '../../src/net/server.js'
import { FrameType } from '../../src/net/constants.js'
import { decodePayload, encodeFrame, encodeValue } from '../../src/net/frame.js'
import { Cleanup, assertExchanging, captureStderr, collect, connectPair, dropCertSet, makeCertSet, msgFrame, rawParent, serverOpts, untilClosed, waitEvent, type CertSet } from './_support.js'
import { EventEmitter } from 'node:events'

let c: CertSet
const cleanup = new Cleanup()
beforeAll(() => {
  c = makeCertSet()
})
afterEach(() => cleanup.run())
afterAll(() => dropCertSet(c))

async function serverWithRawParent(extra = {}) {
  const server = cleanup.add(new LinkServer(serverOpts(c, extra)))
  const { port } = await server.listen()
  const up = waitEvent(server, 'up')
  const parent = await rawParent(port, c)
  cleanup.add(parent.sock)
  await up
  return { server, parent, port }
}

const ackAt = (seq: number) => (f: { type: number; id: number }) => f.type === FrameType.ACK && f.id >= seq

describe('messages that decode to nothing', () => {
  it('an empty, a nil and an undecodable MSG are dropped with a reason; the link keeps delivering', async () => {
    const { server, parent } = await serverWithRawParent()
    const errors: any[] = []
    server.on('error', (e) => errors.push(e))
    const got = collect(server)
    parent.sock.write(msgFrame(1, Buffer.alloc(0)))
    parent.sock.write(msgFrame(2, Buffer.from([0xc0]))) // msgpack nil
    parent.sock.write(msgFrame(3, Buffer.from([0xc1, 0xff, 0x00]))) // 0xc1 is never used by msgpack
    parent.sock.write(msgFrame(4, encodeValue({ ok: 4 })))
    await got.until(1)
    expect(got.values).toEqual([{ ok: 4 }])
    expect(errors.map((e) => e.code)).toEqual(['BAD_MESSAGE', 'BAD_MESSAGE', 'BAD_MESSAGE'])
    expect(errors[0].message).toContain('dropped message 1')
    expect(errors[0].message).toContain('payload is empty')
    expect(errors[1].message).toContain('decodes to null')
    expect(errors[2].message).toContain('not valid msgpack')
    // the dropped ones count as delivered, so the peer is not asked to send them again
    await parent.next(ackAt(4))
    expect(server.up).toBe(true)
    expect(server.stats().messagesDropped).toBe(3)
    expect(server.stats().messagesReceived).toBe(4)
  })

  it('a listener that throws on a message does not crash the process without an error listener', async () => {
    const { server, parent } = await serverWithRawParent()
    const err = captureStderr()
    try {
      // like an RPC layer reading fields of whatever arrives
      server.on('message', (m: any) => {
        if (typeof m.id !== 'number') throw new TypeError(`Cannot read properties of message (reading 'id')`)
      })
      const got = collect(server)
      parent.sock.write(msgFrame(1, Buffer.alloc(0)))
      for (let i = 2; i <= 20; i++) parent.sock.write(msgFrame(i, encodeValue({ noId: i })))
      parent.sock.write(msgFrame(21, encodeValue({ id: 21 })))
      await got.until(20)
      expect(got.values.at(-1)).toEqual({ id: 21 })
      expect(server.up).toBe(true)
      // 1 drop + 19 listener errors, printed at most 3 per second per kind
      expect(err.lines.length).toBeGreaterThan(0)
      expect(err.lines.length).toBeLessThanOrEqual(6)
      expect(err.lines.join('')).toContain("a 'message' listener of the link threw: TypeError")
    } finally {
      err.restore()
    }
  })

  it("an 'error' listener that throws is caught too", async () => {
    const { server, parent } = await serverWithRawParent()
    const err = captureStderr()
    try {
      server.on('error', () => {
        throw new Error('error listener broke')
      })
      const got = collect(server)
      parent.sock.write(msgFrame(1, Buffer.from([0xc0])))
      parent.sock.write(msgFrame(2, encodeValue('after')))
      await got.until(1)
      expect(got.values).toEqual(['after'])
      expect(err.lines.join('')).toContain("an 'error' listener of the link threw")
    } finally {
      err.restore()
    }
  })

  it('null and undefined sent through a real link are dropped at the receiver with a reason', async () => {
    const { server, client } = await connectPair(c, cleanup)
    const errors: any[] = []
    server.on('error', (e) => errors.push(e))
    const got = collect(server)
    client.send(null)
    client.send(undefined)
    client.send({ after: true })
    await got.until(1)
    expect(got.values).toEqual([{ after: true }])
    expect(errors.map((e) => e.code)).toEqual(['BAD_MESSAGE', 'BAD_MESSAGE'])
    expect(errors[0].message).toMatch(/dropped message 1 from .*parent\.crt: its payload decodes to null/)
    expect(errors[1].message).toContain('decodes to undefined')
    await assertExchanging(client, server, 'after-null')
  })
})

describe('early arrivals', () => {
  it('on TLS alone a gap is a protocol error: GOAWAY SEQ_GAP, nothing parked', async () => {
    const { server, parent } = await serverWithRawParent()
    const down = waitEvent(server, 'down')
    const got = collect(server)
    const closed = untilClosed(parent.sock)
    parent.sock.write(msgFrame(1, encodeValue('one')))
    for (let i = 3; i < 50; i++) parent.sock.write(msgFrame(i, encodeValue(i)))
    const d = await down
    expect(d.error.reason).toBe('PROTOCOL')
    expect(d.error.message).toContain('message 3 arrived while 2 is missing; a TLS stream cannot skip messages')
    expect(d.error.cause.code).toBe('SEQ_GAP')
    await closed
    const goaway = parent.frames.find((f) => f.type === FrameType.GOAWAY)!
    expect(decodePayload(goaway)).toMatchObject({ code: 'SEQ_GAP' })
    expect(got.values).toEqual(['one'])
    expect((server as any).inbox.parked).toBe(0)
  })

  it('with a datagram transport parking is allowed but bounded in bytes (1 MiB frames)', async () => {
    const { server, parent } = await serverWithRawParent({ heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 20_000 })
    // a datagram path that never delivers: every gap stays open
    const silent = Object.assign(new EventEmitter(), { send: () => false, close: () => {} })
    server.attachDatagramTransport(silent as never)
    const down = waitEvent(server, 'down', () => true, 20_000)
    const big = encodeValue(Buffer.alloc(1024 * 1024, 7))
    let written = 0
    // seq 1 never comes; 2..40 would be 39 MiB parked without a bound
    for (let i = 2; i <= 40 && !parent.sock.destroyed && server.up; i++) {
      if (!parent.sock.write(msgFrame(i, big))) await Promise.race([new Promise((r) => parent.sock.once('drain', r)), parent.closed, down])
      written++
    }
    const d = await down
    expect(d.error.message).toMatch(/message \d+ arrived while 1 is still missing and 7 later messages \(\d+ bytes\) are parked; the limit is 4096 messages \/ 8388608 bytes/)
    expect(written).toBeGreaterThanOrEqual(8)
    expect(written).toBeLessThan(39)
    expect((server as any).inbox.parkedBytes).toBeLessThanOrEqual(8 * 1024 * 1024)
  })
})

import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION } from '../../src/constants.js'
import { InstanceDiedError } from '../../src/errors.js'
import { Ops, type Envelope } from '../../src/ipc/envelope.js'
import { Packer, unpack } from '../../src/ipc/packing.js'
import { RpcEndpoint } from '../../src/rpc/endpoint.js'

const req = (id: number, d: unknown = { i: id }): Envelope => ({ v: PROTOCOL_VERSION, op: Ops.REQUEST, id, k: 'eval', d })
const res = (id: number): Envelope => ({ v: PROTOCOL_VERSION, op: Ops.RESPONSE, id, d: { ok: true, value: id } })

/** A packer over a channel that records what it sent, with the end of the turn in the test's hands. */
function setup(opts: { busy?: boolean; open?: boolean; reject?: (msg: unknown) => boolean } = {}) {
  const sent: unknown[] = []
  const failed: { msg: Envelope; err: Error }[] = []
  const ends: (() => void)[] = []
  const state = { busy: opts.busy ?? false, open: opts.open ?? true }
  const packer = new Packer(
    {
      send: (msg) => {
        if (!state.open) return false
        // like JSON.stringify or structured clone: one bad message spoils whatever carries it
        const bad = (m: unknown): boolean => (opts.reject?.(m) ?? false) || ((m as Envelope).op === Ops.PACK && ((m as Envelope).d as unknown[]).some(bad))
        if (bad(msg)) throw new TypeError('cannot serialize')
        sent.push(msg)
        return true
      },
      closedError: () => new InstanceDiedError(3, 'instance 3 is not running any more'),
    },
    (msg, err) => failed.push({ msg, err }),
    { busy: () => state.busy, schedule: (fn) => void ends.push(fn) },
  )
  const endTurn = () => ends.splice(0).forEach((fn) => fn())
  return { packer, sent, failed, ends, endTurn, state }
}

describe('Packer', () => {
  it('sends a lone envelope at once, as itself, and schedules nothing', () => {
    const { packer, sent, ends } = setup()
    expect(packer.send(req(1))).toBe(true)
    expect(sent).toEqual([req(1)])
    expect(ends).toHaveLength(0)
  })

  it('while busy, sends the envelopes of one turn of the event loop as one pack at the end of the turn', () => {
    const { packer, sent, ends, endTurn } = setup({ busy: true })
    packer.send(req(1))
    packer.send(req(2))
    packer.send(res(7))
    expect(sent).toEqual([])
    expect(ends).toHaveLength(1) // one end of turn for the whole batch
    endTurn()
    expect(sent).toEqual([{ v: PROTOCOL_VERSION, op: Ops.PACK, d: [req(1), req(2), res(7)] }])
  })

  it('sendCall (what the request layer posts) queues and packs exactly as send does, in the same order', () => {
    const { packer, sent, endTurn, state } = setup({ busy: true })
    packer.sendCall(req(1))
    packer.send(req(2))
    packer.sendCall(res(7))
    endTurn()
    expect(sent).toEqual([{ v: PROTOCOL_VERSION, op: Ops.PACK, d: [req(1), req(2), res(7)] }])
    state.busy = false
    expect(packer.sendCall(req(3))).toBe(true)
    expect(sent.at(-1)).toEqual(req(3))
    state.open = false
    expect(packer.sendCall(req(4))).toBe(false)
    expect(packer.sendCall(req(5))).toBe(false) // known closed: refused without trying
    expect(sent).toHaveLength(2)
  })

  it('sends a single queued envelope as itself, not as a pack of one', () => {
    const { packer, sent, endTurn } = setup({ busy: true })
    packer.send(req(1))
    endTurn()
    expect(sent).toEqual([req(1)])
  })

  it('packs the answers sent while a received pack is handled, and sends them when it is done', () => {
    const { packer, sent, ends } = setup()
    packer.batch(() => {
      packer.send(res(1))
      packer.send(res(2))
      expect(sent).toEqual([])
    })
    expect(ends).toHaveLength(0)
    expect(sent).toEqual([{ v: PROTOCOL_VERSION, op: Ops.PACK, d: [res(1), res(2)] }])
  })

  it('keeps the order of the channel: anything that is not a request-layer envelope goes after the queue', () => {
    const { packer, sent, endTurn } = setup({ busy: true })
    const heartbeat = { v: PROTOCOL_VERSION, op: Ops.HEARTBEAT, d: { t: 1 } }
    const raw = { _eval: 'this.guilds.cache.size' } // discord.js's protocol, never packed
    packer.send(req(1))
    packer.send(req(2))
    packer.send(heartbeat)
    packer.send(req(3))
    packer.send(raw)
    endTurn()
    expect(sent).toEqual([{ v: PROTOCOL_VERSION, op: Ops.PACK, d: [req(1), req(2)] }, heartbeat, req(3), raw])
  })

  it('sends a pack that cannot be serialized message by message, and hands on only the one that failed', () => {
    const { packer, sent, failed, endTurn } = setup({ busy: true, reject: (m) => (m as Envelope).id === 2 && (m as Envelope).op === Ops.REQUEST })
    packer.send(req(1))
    packer.send(req(2))
    packer.send(req(3))
    endTurn()
    expect(sent).toEqual([req(1), req(3)])
    expect(failed.map((f) => [f.msg.id, f.err.message])).toEqual([[2, 'cannot serialize']])
  })

  it('throws for a message sent at once that cannot be serialized, as the channel does', () => {
    const { packer } = setup({ reject: () => true })
    expect(() => packer.send(req(1))).toThrow('cannot serialize')
  })

  it('hands on everything queued when the channel turns out to be closed, and refuses what comes after', () => {
    const { packer, failed, endTurn, state } = setup({ busy: true })
    packer.send(req(1))
    packer.send(req(2))
    state.open = false
    endTurn()
    expect(failed.map((f) => [f.msg.id, f.err.name])).toEqual([
      [1, 'InstanceDiedError'],
      [2, 'InstanceDiedError'],
    ])
    expect(packer.send(req(3))).toBe(false)
    expect(packer.send({ v: PROTOCOL_VERSION, op: Ops.HEARTBEAT })).toBe(false)
  })

  it('unpacks a pack, and refuses one whose body is not a list', () => {
    expect(unpack({ v: PROTOCOL_VERSION, op: Ops.PACK, d: [req(1)] })).toEqual([req(1)])
    expect(unpack({ v: PROTOCOL_VERSION, op: Ops.PACK, d: { 0: req(1) } })).toBeNull()
  })
})

describe('RpcEndpoint.undeliverable', () => {
  it('fails the call whose request could not be sent, with the reason', async () => {
    const posted: Envelope[] = []
    const endpoint = new RpcEndpoint({ name: 'instance 3', post: (m) => void posted.push(m) }, null)
    const call = endpoint.call('eval', { i: 1 })
    expect(endpoint.callsInFlight).toBe(1)
    endpoint.undeliverable(posted[0]!, new TypeError('cannot serialize'))
    await expect(call).rejects.toThrow('cannot serialize')
    expect(endpoint.callsInFlight).toBe(0)
  })

  it('answers a request whose result could not be sent with the reason instead', () => {
    const posted: Envelope[] = []
    const endpoint = new RpcEndpoint({ name: 'the manager', post: (m) => void posted.push(m) }, () => 1)
    endpoint.undeliverable(res(5), new TypeError('cannot serialize'))
    expect(posted).toEqual([{ v: PROTOCOL_VERSION, op: Ops.RESPONSE, id: 5, d: { ok: false, error: expect.objectContaining({ message: 'cannot serialize' }) } }])
    // an error answer that cannot be sent either is not retried
    endpoint.undeliverable(posted[0]!, new TypeError('still not'))
    expect(posted).toHaveLength(1)
  })
})

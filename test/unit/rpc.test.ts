import { describe, expect, it } from 'vitest'
import { AbortedError, InstanceDiedError, LinkLostError, ProtocolError, RemoteError, TimeoutError } from '../../src/errors.js'
import type { Envelope } from '../../src/ipc/envelope.js'
import { deadlineIn, NO_DEADLINE, partsDeadline } from '../../src/rpc/deadline.js'
import { RpcEndpoint, type CallSink, type RpcHandler, type RpcPeer } from '../../src/rpc/endpoint.js'
import { FakeClock } from '../helpers/fake-clock.js'

/** Two endpoints wired back to back through queues we control, on one fake clock. */
function pair(handler: RpcHandler, opts: { reachable?: () => boolean; post?: (m: Envelope) => void } = {}) {
  const clock = new FakeClock()
  const toServer: Envelope[] = []
  const toClient: Envelope[] = []
  const errors: ProtocolError[] = []
  const clientPeer: RpcPeer = {
    name: 'server',
    post: opts.post ?? ((m) => void toServer.push(structuredClone(m))),
    reachable: opts.reachable,
    unreachableError: (what) => new LinkLostError('server', what),
    onProtocolError: (e) => errors.push(e),
  }
  const client = new RpcEndpoint(clientPeer, null, clock)
  const server = new RpcEndpoint({ name: 'client', post: (m) => void toClient.push(structuredClone(m)), onProtocolError: (e) => errors.push(e) }, handler, clock)
  /** Delivers queued messages both ways until none is left; lets promises run in between. */
  const flush = async () => {
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setImmediate(r))
      const a = toServer.splice(0)
      const b = toClient.splice(0)
      for (const m of a) server.handle(m)
      for (const m of b) client.handle(m)
      if (a.length === 0 && b.length === 0 && i > 2) return
    }
  }
  return { clock, client, server, toServer, toClient, flush, errors }
}

describe('deadlines', () => {
  it('travel as what is left, never padded', async () => {
    const served: number[] = []
    const { clock, client, server, toServer } = pair((_kind, _d, ctx) => void served.push(ctx.deadline))
    const start = clock.now()
    void client.call('a', {}, { deadline: start + 1500.7 }).catch(() => {})
    void client.call('b', {}).catch(() => {})
    expect(toServer.map((m) => m.ttl)).toEqual([1500, undefined]) // whole ms left; none without a deadline
    await clock.advance(1000)
    for (const ttl of [500, undefined, -5, 'x', Infinity]) server.handle({ v: 1, op: 'req', id: 9, k: 'k', d: {}, ttl } as Envelope)
    expect(served).toEqual([start + 1500, NO_DEADLINE, NO_DEADLINE, NO_DEADLINE, NO_DEADLINE])
    expect(deadlineIn(0)).toBe(NO_DEADLINE)
  })

  it('leaves a fan-out a reserve to answer before its caller gives up', () => {
    expect(partsDeadline(NO_DEADLINE)).toBe(NO_DEADLINE)
    expect(partsDeadline(30_000, 0)).toBe(30_000 - 1000) // capped at 1 s
    expect(partsDeadline(2000, 0)).toBe(2000 - 200) // 10 %
    expect(partsDeadline(300, 0)).toBe(250) // at least 50 ms
    expect(partsDeadline(60, 0)).toBe(30) // too little left: half of it
    expect(partsDeadline(1000, 0)).toBeLessThan(1000)
  })
})

describe('RpcEndpoint', () => {
  it('answers a request and leaves nothing pending on either side', async () => {
    const { client, server, flush } = pair(async (kind, d) => ({ kind, echo: d.x }))
    const p = client.call('echo', { x: 1 })
    await flush()
    await expect(p).resolves.toEqual({ kind: 'echo', echo: 1 })
    expect(client.inFlight).toEqual({ calls: 0, serving: 0 })
    expect(server.inFlight).toEqual({ calls: 0, serving: 0 })
  })

  it('a handler that returns a value answers in the same task and registers nothing; a promise is tracked until it settles', async () => {
    let release: (v: unknown) => void = () => {}
    const { server, toClient } = pair((kind, d) => (kind === 'sync' ? { echo: d.x } : new Promise((r) => (release = r))))
    server.handle({ v: 1, op: 'req', id: 1, k: 'sync', d: { x: 7 } })
    expect(toClient).toEqual([{ v: 1, op: 'res', id: 1, d: { ok: true, value: { echo: 7 } } }])
    expect(server.inFlight.serving).toBe(0)
    server.handle({ v: 1, op: 'req', id: 2, k: 'async', d: {} })
    expect(toClient).toHaveLength(1)
    expect(server.inFlight.serving).toBe(1)
    release('done')
    await new Promise((r) => setImmediate(r))
    expect(toClient[1]).toEqual({ v: 1, op: 'res', id: 2, d: { ok: true, value: 'done' } })
    expect(server.inFlight.serving).toBe(0)
  })

  it('carries the remaining time, and the serving side works to the same deadline', async () => {
    let seen = 0
    const { client, clock, toServer, flush } = pair(async (_k, _d, ctx) => {
      seen = ctx.deadline
      return null
    })
    await clock.advance(1000)
    const p = client.call('x', {}, { deadline: clock.now() + 700 })
    expect(toServer[0].ttl).toBe(700)
    await flush()
    await p
    expect(seen).toBe(clock.now() + 700)
  })

  it('times out at the deadline, cancels downstream, and aborts the handler', async () => {
    let aborted: unknown = null
    const { client, server, clock, toServer, flush } = pair(
      (_k, _d, ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason
            reject(ctx.signal.reason)
          })
        }),
    )
    const p = client.call('slow', {}, { deadline: clock.now() + 500 })
    const settled = expect(p).rejects.toBeInstanceOf(TimeoutError)
    await flush()
    expect(server.inFlight.serving).toBe(1)
    await clock.advance(500)
    await settled
    expect(toServer.map((m) => m.op)).toEqual(['cancel'])
    await flush()
    expect(aborted).toBeInstanceOf(Error)
    expect(client.inFlight).toEqual({ calls: 0, serving: 0 })
    expect(server.inFlight).toEqual({ calls: 0, serving: 0 })
  })

  it('a handler that never settles is released at its deadline even if the cancel is lost', async () => {
    const { client, server, clock, toServer, flush } = pair(() => new Promise(() => {}))
    const p = client.call('never', {}, { deadline: clock.now() + 300 })
    p.catch(() => {})
    await flush()
    expect(server.inFlight.serving).toBe(1)
    await clock.advance(300)
    toServer.length = 0 // the cancel is lost on the way
    await flush()
    expect(server.inFlight.serving).toBe(0)
  })

  it('says LinkLostError, not a timeout, when the peer was unreachable at the deadline', async () => {
    const { client, clock } = pair(async () => null, { reachable: () => false, post: () => {} })
    const p = client.call('x', {}, { deadline: clock.now() + 100 })
    await clock.advance(100)
    await expect(p).rejects.toBeInstanceOf(LinkLostError)
  })

  it('an abort signal withdraws the call and cancels downstream', async () => {
    const { client, server, toServer, flush } = pair(() => new Promise(() => {}))
    const abort = new AbortController()
    const p = client.call('x', {}, { signal: abort.signal })
    await flush()
    abort.abort()
    await expect(p).rejects.toBeInstanceOf(AbortedError)
    expect(toServer.at(-1)?.op).toBe('cancel')
    await flush()
    expect(server.inFlight.serving).toBe(0)
    expect(client.inFlight.calls).toBe(0)
  })

  it('a message that cannot be sent rejects at once with the reason, not a timeout', async () => {
    const tooBig = Object.assign(new Error('message exceeds the frame limit'), { code: 'FRAME_TOO_LARGE' })
    const { client } = pair(async () => null, {
      post: () => {
        throw tooBig
      },
    })
    await expect(client.call('x', {}, { deadline: deadlineIn(60_000) })).rejects.toBe(tooBig)
    expect(client.inFlight.calls).toBe(0)
  })

  it('errors keep their type across the hop', async () => {
    const { client, flush } = pair(async (kind) => {
      if (kind === 'died') throw new InstanceDiedError(4)
      if (kind === 'user') throw new RangeError('bad input')
      throw new TimeoutError('inner timeout')
    })
    const [died, user, timeout] = ['died', 'user', 'timeout'].map((k) => client.call(k, {}))
    for (const p of [died, user, timeout]) p.catch(() => {})
    await flush()
    await expect(died).rejects.toBeInstanceOf(InstanceDiedError)
    await expect(user).rejects.toBeInstanceOf(RemoteError)
    await expect(user).rejects.toMatchObject({ remoteName: 'RangeError', message: 'bad input' })
    await expect(timeout).rejects.toBeInstanceOf(TimeoutError)
  })

  it('failAll rejects every call and aborts everything served', async () => {
    let abortedServing = 0
    const { client, server, flush } = pair((_k, _d, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => (abortedServing++, reject(ctx.signal.reason)))))
    const calls = [client.call('a', {}), client.call('b', {})]
    for (const c of calls) c.catch(() => {})
    await flush()
    client.failAll(new InstanceDiedError(1))
    server.failAll(new InstanceDiedError(1))
    for (const c of calls) await expect(c).rejects.toBeInstanceOf(InstanceDiedError)
    expect(abortedServing).toBe(2)
    expect(client.inFlight).toEqual({ calls: 0, serving: 0 })
    expect(server.inFlight).toEqual({ calls: 0, serving: 0 })
  })

  it('failCalls can spare calls that have a deadline of their own', async () => {
    const { client, clock } = pair(async () => null, { post: () => {} })
    const forever = client.call('respawn', {})
    const bounded = client.call('eval', {}, { deadline: clock.now() + 1000 })
    client.failCalls(new LinkLostError('m'), true)
    await expect(forever).rejects.toBeInstanceOf(LinkLostError)
    expect(client.inFlight.calls).toBe(1)
    await clock.advance(1000)
    await expect(bounded).rejects.toBeInstanceOf(TimeoutError)
  })

  it('malformed requests, responses and cancels are dropped and reported, never thrown', () => {
    const { server, client, errors } = pair(async () => null)
    const bad: Envelope[] = [
      { v: 1, op: 'req' },
      { v: 1, op: 'req', id: -1, k: 'x' },
      { v: 1, op: 'req', id: 1 },
      { v: 1, op: 'res', id: 1 },
      { v: 1, op: 'res', id: 1, d: { ok: false, error: 'nope' } },
      { v: 1, op: 'cancel', id: 'x' as never },
    ]
    for (const m of bad) expect(server.handle(m) || client.handle(m)).toBe(true)
    expect(errors.length).toBe(bad.length)
    expect(errors.every((e) => e.code === 'MALFORMED_MESSAGE')).toBe(true)
    expect(server.handle({ v: 1, op: 'assign' })).toBe(false)
  })

  it('a late answer after a timeout is ignored', async () => {
    const { client, clock, toServer } = pair(async () => null, {})
    const p = client.call('x', {}, { deadline: clock.now() + 50 })
    const id = toServer[0].id!
    await clock.advance(50)
    await expect(p).rejects.toBeInstanceOf(TimeoutError)
    expect(client.handle({ v: 1, op: 'res', id, d: { ok: true, value: 1 } })).toBe(true)
    expect(client.inFlight.calls).toBe(0)
  })

  it('callInto gives every outcome to the sink with its tag, as call would settle, and leaves nothing pending', async () => {
    const outcomes: [number, boolean, unknown][] = []
    const sink: CallSink = { settled: (tag, ok, value) => void outcomes.push([tag, ok, value]) }
    const { client, clock, flush } = pair((kind, d) => {
      if (kind === 'fail') throw new RangeError('no such thing')
      if (kind === 'never') return new Promise(() => {})
      return d.n
    })
    client.callInto('echo', { n: 41 }, {}, sink, 0)
    client.callInto('fail', {}, {}, sink, 1)
    client.callInto('never', {}, { deadline: clock.now() + 100 }, sink, 2)
    const abort = new AbortController()
    client.callInto('never', {}, { signal: abort.signal }, sink, 3)
    expect(client.callsInFlight).toBe(4)
    await flush()
    abort.abort()
    await clock.advance(100)
    const byTag = new Map(outcomes.map(([tag, ok, value]) => [tag, { ok, value }]))
    expect(outcomes.length).toBe(4)
    expect(byTag.get(0)).toEqual({ ok: true, value: 41 })
    expect(byTag.get(1)?.ok).toBe(false)
    expect(byTag.get(1)?.value).toBeInstanceOf(RemoteError)
    expect(byTag.get(2)?.value).toBeInstanceOf(TimeoutError)
    expect(byTag.get(3)?.value).toBeInstanceOf(AbortedError)
    expect(client.inFlight).toEqual({ calls: 0, serving: 0 })
  })

  it('callInto reports a call that cannot start or be sent at once, and failAll reaches the sink too', () => {
    const outcomes: [number, boolean, unknown][] = []
    const sink: CallSink = { settled: (tag, ok, value) => void outcomes.push([tag, ok, value]) }
    const refused = new Error('channel closed')
    let refuse = true
    const { client, clock } = pair(async () => null, {
      post: () => {
        if (refuse) throw refused
      },
    })
    client.callInto('x', {}, {}, sink, 1)
    expect(outcomes).toEqual([[1, false, refused]])
    client.callInto('x', {}, { deadline: clock.now() }, sink, 2)
    expect(outcomes[1][2]).toBeInstanceOf(TimeoutError)
    client.callInto('x', {}, { signal: AbortSignal.abort() }, sink, 3)
    expect(outcomes[2][2]).toBeInstanceOf(AbortedError)
    refuse = false
    client.callInto('x', {}, {}, sink, 4)
    expect(client.callsInFlight).toBe(1)
    client.failAll(new InstanceDiedError(1))
    expect(outcomes[3][0]).toBe(4)
    expect(outcomes[3][2]).toBeInstanceOf(InstanceDiedError)
    expect(client.inFlight).toEqual({ calls: 0, serving: 0 })
  })
})

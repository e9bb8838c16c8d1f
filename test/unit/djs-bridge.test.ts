import { describe, expect, it } from 'vitest'
import { AbortedError, InstanceDiedError, NoTargetError, RemoteError, TimeoutError } from '../../src/errors.js'
import { deserializeValue } from '../../src/ipc/values.js'
import { DjsBridge } from '../../src/manager/djs-bridge.js'
import { deadlineIn, NO_DEADLINE } from '../../src/rpc/deadline.js'

function bridge(send: (msg: any) => boolean = () => true, broadcast: () => Promise<unknown> = async () => null) {
  const sent: any[] = []
  const b = new DjsBridge({
    id: 3,
    send: (m) => (sent.push(m), send(m)),
    shardEvent: () => {},
    broadcast,
    respawnAll: () => {},
    defaultTimeout: 1000,
  })
  return { b, sent }
}

describe("DjsBridge (discord.js's _eval protocol, matched by script text)", () => {
  it('answers identical concurrent scripts in order and keeps no key once nobody waits', async () => {
    const { b } = bridge()
    const first = b.evalScript('this.x', { deadline: NO_DEADLINE })
    const second = b.evalScript('this.x', { deadline: NO_DEADLINE })
    expect(b.pending).toBe(2)
    b.handle({ _eval: 'this.x', _result: 1 })
    b.handle({ _eval: 'this.x', _result: 2 })
    expect(deserializeValue(await first)).toBe(1)
    expect(deserializeValue(await second)).toBe(2)
    expect(b.pending).toBe(0)
    expect((b as any).waiting.size).toBe(0)
  })

  it('a timed-out or cancelled eval leaves nothing behind, for any number of distinct scripts', async () => {
    const { b } = bridge()
    const abort = new AbortController()
    const calls = []
    for (let i = 0; i < 50; i++) calls.push(b.evalScript(`this.n + ${i}`, { deadline: deadlineIn(20) }))
    const cancelled = b.fetchProp('guilds.cache.size', { deadline: NO_DEADLINE, signal: abort.signal })
    abort.abort()
    await expect(cancelled).rejects.toBeInstanceOf(AbortedError)
    for (const c of calls) await expect(c).rejects.toBeInstanceOf(TimeoutError)
    expect(b.pending).toBe(0)
    expect((b as any).waiting.size).toBe(0)
  })

  it('fails at once when the instance cannot be reached, and rejectAll empties everything', async () => {
    const dead = bridge(() => false).b
    await expect(dead.evalScript('1', { deadline: NO_DEADLINE })).rejects.toBeInstanceOf(InstanceDiedError)
    expect(dead.pending).toBe(0)
    const { b } = bridge()
    const p = b.evalScript('2', { deadline: NO_DEADLINE })
    b.rejectAll(new InstanceDiedError(3))
    await expect(p).rejects.toBeInstanceOf(InstanceDiedError)
    expect((b as any).waiting.size).toBe(0)
  })

  it("answers a bot's failed _sEval with the thrower's own name and message, as discord.js's manager does", async () => {
    const thrown = new RemoteError('TypeError', 'boom', 'TypeError: boom\n    at eval')
    const cases: [Error, { name: string; message: string; stack?: string }][] = [
      [thrown, { name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at eval' }],
      [new NoTargetError('no running instance matches shard 99'), { name: 'NoTargetError', message: 'no running instance matches shard 99' }],
    ]
    for (const [err, expected] of cases) {
      const { b, sent } = bridge(() => true, () => Promise.reject(err))
      b.handle({ _sEval: '(c) => c.x', _sEvalShard: 99 })
      await new Promise((r) => setImmediate(r))
      expect(sent).toHaveLength(1)
      expect(sent[0]).toMatchObject({ _sEval: '(c) => c.x', _sEvalShard: 99, _error: expected })
    }
  })
})

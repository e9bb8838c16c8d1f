import { describe, expect, it } from 'vitest'
import { NoTargetError, RemoteError } from '../../src/errors.js'
import { finishFanout } from '../../src/ipc/results.js'
import type { FanoutEntry } from '../../src/ipc/targets.js'
import { serializeValue } from '../../src/ipc/values.js'

const ok = (instance: number, value: unknown): FanoutEntry => ({ instance, machine: 'local', shards: [instance], ok: true, value: serializeValue(value) })
const failed = (instance: number, name: string, message: string, code?: string): FanoutEntry => ({
  instance,
  machine: 'local',
  shards: [instance],
  ok: false,
  error: { name, message, stack: `${name}: ${message}\n    at eval`, ...(code ? { code } : {}) },
})

describe('finishFanout (what a broadcast settles with)', () => {
  const entries = [ok(0, 1), failed(1, 'TypeError', 'boom'), failed(2, 'Error', 'later')]

  it('rejects with the first failure, named after the instance that threw it', () => {
    const run = () => finishFanout(entries, { single: false, allowPartial: false })
    expect(run).toThrow(RemoteError)
    expect(run).toThrow('instance 1 (local): boom')
    try {
      run()
    } catch (err) {
      expect((err as RemoteError).remoteName).toBe('TypeError')
      expect((err as RemoteError).remoteStack).toBe('TypeError: boom\n    at eval')
    }
  })

  it("bare (discord.js's client.shard calls): the thrower's own message; our own errors keep their class", () => {
    expect(() => finishFanout(entries, { single: false, allowPartial: false, bare: true })).toThrow(/^boom$/)
    const noTarget = [failed(0, 'NoTargetError', 'no running instance matches shard 9', 'NO_TARGET')]
    expect(() => finishFanout(noTarget, { single: true, allowPartial: false, bare: true })).toThrow(NoTargetError)
  })

  it('allowPartial: every entry, failures as errors named after their instance', () => {
    const out = finishFanout(entries, { single: false, allowPartial: true }) as { ok: boolean; value?: unknown; error?: Error }[]
    expect(out.map((e) => e.ok)).toEqual([true, false, false])
    expect(out[0]!.value).toBe(1)
    expect(out[2]!.error!.message).toBe('instance 2 (local): later')
    expect(finishFanout([ok(4, 'x')], { single: true, allowPartial: false })).toBe('x')
  })
})

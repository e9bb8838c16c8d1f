import { describe, expect, it } from 'vitest'
import { resolveOptions } from '../../src/manager/options.js'
import { OptionsError } from '../../src/errors.js'

const file = new URL('../fixtures/basic-client.mjs', import.meta.url).pathname

describe('options', () => {
  it('applies defaults and accepts uppercase modes', () => {
    const o = resolveOptions({ file, mode: 'PROCESSES', shards: { from: 4, to: 7 }, totalShards: 16 })
    expect(o.mode).toBe('processes')
    expect(o.shards).toEqual([4, 5, 6, 7])
    expect(o.totalShards).toBe(16)
    expect(o.shardsPerInstance).toBe(1)
    expect(o.identify).toMatchObject({ windowMs: 5000, marginMs: 250, strategy: 'auto', maxConcurrency: null })
    expect(resolveOptions({ file, mode: 'workers', shards: [2, 5] }).totalShards).toBe(6)
  })

  it.each([
    [{ mode: 'processes', shards: 2 }, /^file: is required/],
    [{ file: '/nope/bot.js', mode: 'processes', shards: 2 }, /^file: no such file/],
    [{ file, mode: 'cluster', shards: 2 }, /^mode: unknown mode "cluster"/],
    [{ file, mode: 'processes' }, /^shards: is required/],
    [{ file, mode: 'processes', shards: [1, 1] }, /^shards\[1\]: shard 1 is listed twice/],
    [{ file, mode: 'processes', shards: [0, 9], totalShards: 4 }, /^totalShards: is 4 but shard 9/],
    [{ file, mode: 'processes', shards: 2, shardsPerInstance: 0 }, /^shardsPerInstance: expected an integer ≥ 1/],
    [{ file, mode: 'processes', shards: 'auto' }, /^shards: 'auto' asks Discord/],
    [{ file, mode: 'processes', shards: 2, identify: { strategy: 'fast' } }, /^identify\.strategy/],
    [{ file, mode: 'processes', shards: 2, env: { A: 1 } }, /^env\.A: expected a string/],
    [{ file, mode: 'processes', shards: 2, machines: { me: 'parent' } }, /^machines: only applies to mode 'machines'/],
    [{ mode: 'machines', machines: { me: 'child', ipc: {} } }, /^machines\.ipc\.networkHost: is required/],
    [{ mode: 'machines', machines: { me: 'child', ipc: { networkHost: '::1' } } }, /^machines\.tls: is required/],
  ])('rejects %j naming the field', (opts, message) => {
    expect(() => resolveOptions(opts as never)).toThrow(OptionsError)
    expect(() => resolveOptions(opts as never)).toThrow(message)
  })

  it('rejects overlapping machine ranges', () => {
    const tls = { public: 'a', private: 'b', trustedConnections: ['c'] }
    expect(() =>
      resolveOptions({
        mode: 'machines',
        machines: {
          me: 'parent',
          points: [
            { host: '127.0.0.1', childManagerOptions: { mode: 'processes', shards: { from: 0, to: 7 } }, tls },
            { host: '::1', childManagerOptions: { mode: 'workers', shards: { from: 7, to: 9 } }, tls },
          ],
        },
      }),
    ).toThrow(/points\[1\]\.childManagerOptions\.shards: shard 7 is also assigned to machines\.points\[0\]/)
  })
})

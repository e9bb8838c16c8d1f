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
    // discord.js's mode names
    expect(resolveOptions({ file, mode: 'process', shards: 2 }).mode).toBe('processes')
    expect(resolveOptions({ file, mode: 'Worker', shards: 2 }).mode).toBe('workers')
    // discord.js's totalShards without a list: every shard of it
    expect(resolveOptions({ file, mode: 'process', totalShards: 3 })).toMatchObject({ shards: [0, 1, 2], totalShards: 3 })
    expect(resolveOptions({ file, mode: 'process', totalShards: 'auto', token: 't' })).toMatchObject({ shards: 'auto', totalShards: 'auto' })
    expect(() => resolveOptions({ file, mode: 'process', totalShards: 'auto' })).toThrow(/^totalShards: 'auto' asks Discord/)
    // discord.js's option names say what to write instead
    expect(() => resolveOptions({ file, mode: 'process', totalShards: 2, shardArgs: [] } as any)).toThrow(/^shardArgs: unknown option; discord\.js's 'shardArgs' is 'args' here$/)
    expect(() => resolveOptions({ file, mode: 'process', totalShards: 2, shardList: [0] } as any)).toThrow(/^shardList: unknown option; discord\.js's 'shardList' is 'shards' here/)
    expect(() => resolveOptions({ file, mode: 'process', totalShards: 2, silent: true } as any)).toThrow(/^silent: unknown option; discord\.js's 'silent' has no equivalent/)
    // so do discord-hybrid-sharding's (a cluster is an instance)
    expect(() => resolveOptions({ file, mode: 'worker', totalShards: 8, shardsPerClusters: 2 } as any)).toThrow(/^shardsPerClusters: unknown option; discord-hybrid-sharding's 'shardsPerClusters' is 'shardsPerInstance' here$/)
    expect(() => resolveOptions({ file, mode: 'worker', totalShards: 8, totalClusters: 4 } as any)).toThrow(/^totalClusters: unknown option; .* follows from 'shardsPerInstance' here/)
    expect(() => resolveOptions({ file, mode: 'worker', totalShards: 8, queue: { auto: true } } as any)).toThrow(/^queue: unknown option; .*identify queue/)
    // discord.js's constructor signature says what to write instead
    expect(() => resolveOptions('./bot.js' as any)).toThrow(
      `options: expected an options object; discord.js's new ShardingManager("./bot.js", options) is new ShardingManager({ file: "./bot.js", mode: 'process', ...options }) here`,
    )
  })

  it.each([
    [{ mode: 'processes', shards: 2 }, /^file: is required/],
    [{ file: '/nope/bot.js', mode: 'processes', shards: 2 }, /^file: no such file/],
    [{ file, mode: 'cluster', shards: 2 }, /^mode: unknown mode "cluster"/],
    [{ file, mode: 'processes' }, /^shards: is required/],
    [{ file, mode: 'processes', shards: [1, 1] }, /^shards\[1\]: shard 1 is listed twice/],
    [{ file, mode: 'processes', shards: [0, 9], totalShards: 4 }, /^totalShards: is 4 but shard 9/],
    [{ file, mode: 'processes', shards: 2, shardsPerInstance: 0 }, /^shardsPerInstance: expected an integer from 1 to/],
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
    const tls = { public: file, private: file, trustedConnections: [file] }
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

  // One schema checks every option, nested ones included (issue 7): typos, wrong types, relations.
  const tls = { public: file, private: file, trustedConnections: [file] }
  const point = (extra: Record<string, unknown> = {}, cmo: Record<string, unknown> = {}) => ({
    mode: 'machines',
    machines: { me: 'parent', points: [{ host: '127.0.0.1', childManagerOptions: { mode: 'processes', shards: { from: 0, to: 1 }, ...cmo }, tls, ...extra }] },
  })
  it.each([
    [{ file, mode: 'processes', shards: 2, shardPerInstance: 2 }, /^shardPerInstance: unknown option; did you mean 'shardsPerInstance'\?/],
    [{ file, mode: 'processes', shards: 2, respawn: 'yes' }, /^respawn: expected true or false, got "yes"/],
    [{ file, mode: 'processes', shards: 2, timeouts: { heartbeat: 1000, heartbeatInterval: 5000 } }, /^timeouts\.heartbeat: is 1000 ms but timeouts\.heartbeatInterval is 5000 ms/],
    [{ file, mode: 'processes', shards: 2, timeouts: { redy: 5 } }, /^timeouts\.redy: unknown option; did you mean 'ready'\?/],
    [{ file, mode: 'processes', shards: 2, restarts: { max: -1 } }, /^restarts\.max: expected an integer/],
    [{ file, mode: 'processes', shards: 2, identify: { maxConcurency: 2 } }, /^identify\.maxConcurency: unknown option; did you mean 'maxConcurrency'\?/],
    [{ file, mode: 'processes', shards: 2, execArgv: '--inspect' }, /^execArgv: expected an array of a string/],
    [point({}, { env: { A: 1 } }), /^machines\.points\[0\]\.childManagerOptions\.env\.A: expected a string/],
    [point({}, { timeouts: { ready: 'soon' } }), /^machines\.points\[0\]\.childManagerOptions\.timeouts\.ready: expected an integer/],
    [point({}, { restarts: { maxx: 1 } }), /^machines\.points\[0\]\.childManagerOptions\.restarts\.maxx: unknown option; did you mean 'max'\?/],
    [point({}, { shardPerInstance: 2 }), /childManagerOptions\.shardPerInstance: unknown option; did you mean 'shardsPerInstance'\?/],
    [point({ tls: { ...tls, public: '/nope/parent.pem' } }), /^machines\.points\[0\]\.tls\.public: no such file: \/nope\/parent\.pem/],
    [point({ tls: { ...tls, trustedConnections: ['/nope/child.pem'] } }), /^machines\.points\[0\]\.tls\.trustedConnections\[0\]: no such file/],
    [point({ hots: 'x' }), /^machines\.points\[0\]\.hots: unknown option; did you mean 'host'\?/],
    [{ ...point(), machines: { ...point().machines, link: { heartbeatInterval: 5000, heartbeatTimeout: 1000 } } }, /^machines\.link\.heartbeatTimeout: is 1000 ms but/],
    [{ ...point(), machines: { ...point().machines, link: { heartbeatIntervall: 5 } } }, /^machines\.link\.heartbeatIntervall: unknown option; did you mean 'heartbeatInterval'\?/],
    [{ mode: 'machines', machines: { me: 'child', ipc: { networkHost: '::1' }, tls: { ...tls, private: '/nope/child.key' } } }, /^machines\.tls\.private: no such file/],
    [{ mode: 'machines', machines: { me: 'child', ipc: { networkHost: '::1', networkPort: 70000 }, tls } }, /^machines\.ipc\.networkPort: expected an integer from 0 to 65535/],
  ])('checks nested options the same way: %j', (opts, message) => {
    expect(() => resolveOptions(opts as never)).toThrow(OptionsError)
    expect(() => resolveOptions(opts as never)).toThrow(message)
  })

  it('accepts a complete, valid MACHINES parent with per-machine overrides', () => {
    const o = resolveOptions(point({ port: 9000, id: 'a' }, { env: { A: 'b' }, timeouts: { ready: 1000 }, restarts: { max: 2 }, shardsPerInstance: 2 }) as never)
    expect(o.machines).toMatchObject({ me: 'parent', points: [{ id: 'a', port: 9000, shardsPerInstance: 2, childOptions: { env: { A: 'b' }, timeouts: { ready: 1000 } } }] })
  })
})

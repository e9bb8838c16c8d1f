import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { AutoReshard } from '../../src/manager/auto-reshard.js'

/** A host whose re-shards are recorded, and a /gateway/bot whose answers the test releases one by one. */
function setup(running: number) {
  const host = Object.assign(new EventEmitter(), {
    totalShards: running as number | null,
    reshards: [] as number[],
    async reshard({ totalShards }: { totalShards?: number | 'auto' }) {
      host.reshards.push(totalShards as number)
      host.totalShards = totalShards as number
    },
  })
  const debug: string[] = []
  host.on('debug', (d: string) => debug.push(d))
  const asks: Array<(shards: number) => void> = []
  const recommended = () => new Promise<{ shards: number }>((resolve) => asks.push((shards) => resolve({ shards })))
  const auto = new AutoReshard(host, { api: 'http://sim', token: 't' }, 60_000, recommended)
  return { host, debug, asks, auto }
}

/** Lets pending promise callbacks run until `cond` holds; fails instead of hanging when it never does. */
const until = async (cond: () => boolean) => {
  for (let turns = 0; !cond(); turns++) {
    if (turns > 1000) throw new Error('condition never held')
    await new Promise((r) => setImmediate(r))
  }
}

describe('AutoReshard', () => {
  it('runs a 4011 check that arrives during a periodic check after it, instead of dropping it', async () => {
    const { host, debug, asks, auto } = setup(2)
    const periodic = auto.check('periodic check')
    // the periodic check has read /gateway/bot (still 2) when a shard closes with 4011
    host.emit('shardDisconnect', 0, 0, 4011)
    asks[0]!(2)
    await periodic
    await until(() => asks.length === 2)
    expect(asks).toHaveLength(2) // the 4011 check asks again, after the first finished
    asks[1]!(4)
    await until(() => host.reshards.length === 1)
    expect(host.reshards).toEqual([4])
    expect(debug).toEqual([
      'auto re-shard (periodic check): /gateway/bot recommends 2 shards, 2 run',
      'auto re-shard (a shard closed with 4011 (sharding required)): /gateway/bot recommends 4 shards, 2 run',
    ])
  })

  it('joins asks that arrive while one is queued into one check, and keeps the 4011 reason', async () => {
    const { host, debug, asks, auto } = setup(2)
    const first = auto.check('periodic check')
    const a = auto.check('a shard closed with 4011 (sharding required)')
    const b = auto.check('periodic check')
    asks[0]!(2)
    await first
    await until(() => asks.length === 2)
    asks[1]!(3)
    await Promise.all([a, b])
    expect(asks).toHaveLength(2)
    expect(host.reshards).toEqual([3])
    expect(debug[1]).toMatch(/^auto re-shard \(a shard closed with 4011/)
    // nothing is left queued: the next ask runs at once
    const c = auto.check('periodic check')
    expect(asks).toHaveLength(3)
    asks[2]!(3)
    await c
    expect(host.reshards).toEqual([3])
  })

  it('settles every ask when /gateway/bot fails, and reports the error', async () => {
    const host = Object.assign(new EventEmitter(), { totalShards: 2, reshard: async () => {} })
    const errors: unknown[] = []
    host.on('error', (e) => errors.push(e))
    const auto = new AutoReshard(host, { api: 'http://sim', token: 't' }, 60_000, async () => {
      throw new Error('401 Unauthorized')
    })
    await Promise.all([auto.check('periodic check'), auto.check('a shard closed with 4011 (sharding required)')])
    expect(errors).toHaveLength(2)
  })
})

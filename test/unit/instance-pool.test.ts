import { describe, expect, it } from 'vitest'
import { FanoutGather, InstancePool } from '../../src/manager/instance-pool.js'
import type { Instance } from '../../src/manager/instance.js'
import type { FanoutEntry } from '../../src/ipc/targets.js'
import { NO_DEADLINE } from '../../src/rpc/deadline.js'

describe('InstancePool.run', () => {
  it('settles with no entries when the pool has no instances (a MACHINES child with an empty slice)', async () => {
    const pool = new InstancePool({} as never, {} as never, [])
    await expect(pool.run({ type: 'fetch', prop: 'guilds.cache.size' }, {}, { deadline: NO_DEADLINE }, true)).resolves.toEqual([])
    await expect(pool.run({ type: 'fetch', prop: 'guilds.cache.size' }, {}, { deadline: NO_DEADLINE })).resolves.toEqual([])
  })

  it('rejects a target that selects no instance, as a rejection (not a throw)', async () => {
    const pool = new InstancePool({} as never, {} as never, [])
    const call = pool.run({ type: 'fetch', prop: 'x' }, { instances: [3] }, { deadline: NO_DEADLINE })
    await expect(call).rejects.toThrow(/instance/)
  })
})

describe('FanoutGather', () => {
  const selected = [
    { id: 0, machine: undefined, shards: [0, 1] },
    { id: 1, machine: undefined, shards: [2, 3] },
    { id: 2, machine: undefined, shards: [4, 5] },
  ] as unknown as Instance[]

  it('resolves once, with one entry per instance in selection order, whatever order they settle in', () => {
    const results: FanoutEntry[][] = []
    const gather = new FanoutGather(selected, false, (entries) => void results.push(entries))
    gather.settled(2, true, 'c')
    gather.settled(0, false, new RangeError('boom'))
    expect(results).toEqual([])
    gather.settled(1, true, 'b')
    gather.settled(1, true, 'again')
    expect(results.length).toBe(1)
    const [entries] = results
    expect(entries.map((e) => [e.instance, e.ok, e.shards])).toEqual([
      [0, false, [0, 1]],
      [1, true, [2, 3]],
      [2, true, [4, 5]],
    ])
    expect(entries[1]).toMatchObject({ ok: true, value: 'b' })
    expect(entries[0]).toMatchObject({ ok: false, error: { name: 'RangeError', message: 'boom' } })
  })

  it('with failFast, resolves with the first failure alone and ignores what settles after', () => {
    const results: FanoutEntry[][] = []
    const gather = new FanoutGather(selected, true, (entries) => void results.push(entries))
    gather.settled(0, true, 'a')
    gather.settled(2, false, new Error('down'))
    gather.settled(1, false, new Error('also down'))
    expect(results.length).toBe(1)
    expect(results[0]).toHaveLength(1)
    expect(results[0][0]).toMatchObject({ instance: 2, ok: false, error: { message: 'down' } })
  })
})

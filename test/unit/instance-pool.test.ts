import { describe, expect, it } from 'vitest'
import { InstancePool } from '../../src/manager/instance-pool.js'
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

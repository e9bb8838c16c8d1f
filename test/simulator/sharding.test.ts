import { describe, expect, it } from 'vitest'
import { ShardOccupancy, type DuplicateJoin } from '../../src/simulator/shard-occupancy.js'
import { guildCoverage, recommendShardCount } from '../../src/simulator/sharding.js'
import { guildIdAt } from '../../src/simulator/snowflake.js'

const base = { pinned: null, guildsPerShardRecommended: 1000, maxGuildsPerShard: 2500, requiredShardMultiple: 1 }

describe('recommendShardCount', () => {
  it('recommends one shard per guildsPerShardRecommended guilds, at least 1', () => {
    expect([0, 1, 1000, 1001, 2500, 9001].map((guilds) => recommendShardCount({ ...base, guilds }))).toEqual([1, 1, 1, 2, 3, 10])
  })

  it('never recommends a count that maxGuildsPerShard would close with 4011', () => {
    expect(recommendShardCount({ ...base, guilds: 10, maxGuildsPerShard: 3 })).toBe(4)
    expect(recommendShardCount({ ...base, guilds: 12, maxGuildsPerShard: 3 })).toBe(4)
  })

  it('rounds up to requiredShardMultiple, also a pinned value', () => {
    expect(recommendShardCount({ ...base, guilds: 1500, requiredShardMultiple: 4 })).toBe(4)
    expect(recommendShardCount({ ...base, guilds: 1, pinned: 5, requiredShardMultiple: 4 })).toBe(8)
    expect(recommendShardCount({ ...base, guilds: 100_000, pinned: 3 })).toBe(3)
  })
})

describe('guildCoverage', () => {
  const keys = (n: number) => Array.from({ length: n }, (_, i) => BigInt(guildIdAt(i)) >> 22n) // guild i → shard i % total

  it('counts guilds no session receives and guilds two sessions receive, across shard counts', () => {
    expect(guildCoverage(keys(8), [[0, 2], [1, 2]])).toEqual({ guilds: 8, uncovered: 0, multiple: 0 })
    expect(guildCoverage(keys(8), [[0, 2]])).toEqual({ guilds: 8, uncovered: 4, multiple: 0 })
    // old set of 2 beside a new set of 4 (mid re-shard): every guild is received twice
    expect(guildCoverage(keys(8), [[0, 2], [1, 2], [0, 4], [1, 4], [2, 4], [3, 4]])).toEqual({ guilds: 8, uncovered: 0, multiple: 8 })
    // half of the new set ready: guilds 0 and 1 mod 4 twice, the rest once
    expect(guildCoverage(keys(8), [[0, 2], [1, 2], [0, 4], [1, 4]])).toEqual({ guilds: 8, uncovered: 0, multiple: 4 })
    expect(guildCoverage(keys(4), [[1, 2], [1, 2]])).toEqual({ guilds: 4, uncovered: 2, multiple: 2 })
    expect(guildCoverage([], [])).toEqual({ guilds: 0, uncovered: 0, multiple: 0 })
  })
})

describe('ShardOccupancy', () => {
  function setup() {
    let now = 100
    const joins: DuplicateJoin[] = []
    const occ = new ShardOccupancy(() => now, (j) => joins.push(j))
    return { occ, joins, at: (t: number) => (now = t) }
  }

  it('records each overlap of one shard with its start, end, sessions and peak', () => {
    const { occ, joins, at } = setup()
    occ.connect('0/2', 'a')
    occ.connect('1/2', 'b')
    expect(occ.overlaps()).toEqual([])
    at(200)
    occ.connect('0/2', 'c')
    at(250)
    occ.connect('0/2', 'd')
    expect(occ.overlaps()).toEqual([{ shard: '0/2', sessionIds: ['a', 'c', 'd'], startedAt: 200, endedAt: null, maxSessions: 3 }])
    at(300)
    occ.disconnect('0/2', 'a')
    expect(occ.overlaps()[0]!.endedAt).toBeNull() // still two
    at(400)
    occ.disconnect('0/2', 'c')
    expect(occ.overlaps()[0]).toMatchObject({ startedAt: 200, endedAt: 400 })
    at(500)
    occ.connect('0/2', 'e')
    expect(occ.overlaps().map((o) => [o.startedAt, o.endedAt, o.sessionIds])).toEqual([
      [200, 400, ['a', 'c', 'd']],
      [500, null, ['d', 'e']],
    ])
    expect(occ.peaks()).toEqual({ '0/2': 3, '1/2': 1 })
    expect(joins).toEqual([
      { shard: '0/2', sessionId: 'c', sessions: 2, at: 200 },
      { shard: '0/2', sessionId: 'd', sessions: 3, at: 250 },
      { shard: '0/2', sessionId: 'e', sessions: 2, at: 500 },
    ])
  })

  it('ignores a repeated connect or an unknown disconnect', () => {
    const { occ, joins } = setup()
    occ.connect('0/1', 'a')
    occ.connect('0/1', 'a')
    occ.disconnect('0/1', 'zz')
    occ.disconnect('5/6', 'a')
    expect([occ.overlaps(), occ.peaks(), joins]).toEqual([[], { '0/1': 1 }, []])
  })

  it('reset keeps what is true now: an ongoing overlap and current counts as peaks', () => {
    const { occ, at } = setup()
    occ.connect('0/1', 'a')
    occ.connect('0/1', 'b')
    occ.connect('0/1', 'c')
    occ.disconnect('0/1', 'c')
    occ.connect('1/2', 'x')
    occ.connect('1/2', 'y')
    at(150)
    occ.disconnect('1/2', 'y')
    occ.reset()
    expect(occ.overlaps().map((o) => o.shard)).toEqual(['0/1'])
    expect(occ.peaks()).toEqual({ '0/1': 2, '1/2': 1 })
  })
})

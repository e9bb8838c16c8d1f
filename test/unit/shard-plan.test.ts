import { describe, expect, it } from 'vitest'
import { describeShards, parseShards, planInstances, shardForGuild } from '../../src/manager/shard-plan.js'

describe('shard plan', () => {
  it('parses every shape of `shards`', () => {
    expect(parseShards('shards', 4)).toEqual([0, 1, 2, 3])
    expect(parseShards('shards', [3, 1, 2])).toEqual([1, 2, 3])
    expect(parseShards('shards', { from: 2, to: 4 })).toEqual([2, 3, 4])
    expect(parseShards('shards', 'auto')).toBe('auto')
  })

  it.each([
    [0, /integer ≥ 1/],
    [[1, 1], /listed twice/],
    [[-1], /integers ≥ 0/],
    [[1.5], /integers ≥ 0/],
    [[], /empty/],
    [{ from: 3, to: 1 }, /≥ from/],
    ['many', /expected a number/],
  ])('rejects %j with a message naming the field', (value, message) => {
    expect(() => parseShards('shards', value)).toThrow(message)
    expect(() => parseShards('shards', value)).toThrow(/^shards/)
  })

  it('splits into contiguous instances with ids from an offset', () => {
    expect(planInstances([0, 1, 2, 3, 4], 2, 10)).toEqual([
      { id: 10, shards: [0, 1] },
      { id: 11, shards: [2, 3] },
      { id: 12, shards: [4] },
    ])
  })

  it('routes guilds like Discord', () => {
    const id = ((BigInt(Date.UTC(2024, 0, 1)) - 1420070400000n) << 22n) | 12345n
    const expected = Number((id >> 22n) % 16n)
    expect(shardForGuild(id.toString(), 16)).toBe(expected)
    expect(shardForGuild('81384788765712384', 1)).toBe(0)
    expect(() => shardForGuild('abc', 4)).toThrow(/not a snowflake/)
    // a real id as a JS number has lost digits: refused rather than routed to a wrong shard
    expect(() => shardForGuild(81384788765712384, 16)).toThrow(/^guildId: 81384788765712380 is not exact as a number .* pass the id as a string/)
    expect(shardForGuild(4194304 * 5, 4)).toBe(1)
  })

  it('describes shard lists compactly', () => {
    expect(describeShards([0, 1, 2, 3, 8, 10, 11])).toBe('0-3,8,10-11')
  })
})

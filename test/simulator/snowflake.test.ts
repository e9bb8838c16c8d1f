import { describe, expect, it } from 'vitest'
import {
  createSnowflake,
  DISCORD_EPOCH,
  guildIdAt,
  isSnowflake,
  makeGuildIds,
  shardOfGuild,
  snowflakeTimestamp,
} from '../../src/simulator/index.js'
import { GuildRegistry } from '../../src/simulator/guilds.js'

describe('snowflakes', () => {
  it('round-trips the timestamp and keeps the low bits', () => {
    const ts = Date.UTC(2024, 5, 1)
    const id = createSnowflake(ts, 5)
    expect(snowflakeTimestamp(id)).toBe(ts)
    expect(BigInt(id) & 0x3fffffn).toBe(5n)
    expect(isSnowflake(id)).toBe(true)
    expect(() => createSnowflake(DISCORD_EPOCH - 1)).toThrow(RangeError)
    expect(() => createSnowflake(Date.now(), 1 << 22)).toThrow(RangeError)
  })

  it('routes with (id >> 22) % shards, exactly for large ids', () => {
    expect(shardOfGuild('81384788765712384', 1)).toBe(0)
    // 81384788765712384 >> 22 = 19403645698, and 19403645698 % 7 = 3
    expect(shardOfGuild('81384788765712384', 7)).toBe(3)
    const big = ((1n << 41n) - 1n) << 22n
    expect(shardOfGuild(big.toString(), 1000)).toBe(Number(((1n << 41n) - 1n) % 1000n))
    expect(() => shardOfGuild('1', 0)).toThrow(RangeError)
  })

  it('spreads generated guilds evenly: guild i lives on shard i % n', () => {
    const ids = makeGuildIds(60)
    for (const n of [1, 2, 3, 4, 5, 7, 8, 12, 16, 23]) {
      ids.forEach((id, i) => expect(shardOfGuild(id, n)).toBe(i % n))
    }
    expect(new Set(ids).size).toBe(60)
    expect(guildIdAt(3)).toBe(ids[3])
    expect(snowflakeTimestamp(ids[0]!)).toBeGreaterThan(Date.UTC(2019, 0, 1))
  })

  it('registry lists a shard\'s guilds and skips duplicates', () => {
    const reg = new GuildRegistry('1')
    reg.add(10)
    expect(reg.forShard(1, 4).map((g) => g.id)).toEqual([guildIdAt(1), guildIdAt(5), guildIdAt(9)])
    expect(reg.add([guildIdAt(0), '42'])).toHaveLength(1)
    expect(reg.size).toBe(11)
    expect(reg.remove('42')?.id).toBe('42')
    expect(reg.truncate(8).map((g) => g.id)).toEqual([guildIdAt(8), guildIdAt(9)])
    expect(() => reg.add(['x'])).toThrow(/ids\[0\]/)
  })
})

import { describe, expect, it } from 'vitest'
import { readPath } from '../../src/runtime/evaluate.js'

describe('readPath (fetchClientValues inside an instance)', () => {
  const client = { guilds: { cache: { size: 3 } }, user: null as null | { id: string } }

  it('reads a dotted path; a missing last property is undefined, as in discord.js', () => {
    expect(readPath(client, 'guilds.cache.size')).toBe(3)
    expect(readPath(client, 'guilds.missing')).toBeUndefined()
    expect(readPath(client, 'user')).toBeNull()
  })

  it('a path through a missing property is a TypeError naming where it broke, not a value', () => {
    expect(() => readPath(client, 'guild.cache.size')).toThrow(new TypeError("fetchClientValues('guild.cache.size'): client.guild is undefined, so it has no 'cache'"))
    expect(() => readPath(client, 'user.id')).toThrow(new TypeError("fetchClientValues('user.id'): client.user is null, so it has no 'id'"))
    expect(() => readPath(null, 'x')).toThrow(new TypeError("fetchClientValues('x'): the client is null, so it has no 'x'"))
  })
})

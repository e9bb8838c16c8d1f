import { OptionsError } from '../errors.js'
import { guildIdAt, isSnowflake } from './snowflake.js'

/** One simulated guild. The bot is its only known member; it has no channels. */
export interface SimGuild {
  id: string
  name: string
  ownerId: string
  memberCount: number
  joinedAt: string
  /** `id >> 22`, kept so routing does not re-parse the id for every session. */
  readonly routingKey: bigint
}

/** The bot's guilds. Insertion order is kept so READY lists guilds in the order they were added. */
export class GuildRegistry {
  private readonly guilds = new Map<string, SimGuild>()
  private nextIndex = 0

  constructor(private readonly ownerId: string) {}

  get size(): number {
    return this.guilds.size
  }

  /** Adds `count` generated guilds, or the given ids (already known ids are skipped). Returns the added guilds. */
  add(countOrIds: number | readonly string[]): SimGuild[] {
    const ids: string[] = []
    if (typeof countOrIds === 'number') {
      if (!Number.isInteger(countOrIds) || countOrIds < 0) {
        throw new OptionsError('count', `must be a non-negative integer, got ${JSON.stringify(countOrIds)}`)
      }
      while (ids.length < countOrIds) {
        const id = guildIdAt(this.nextIndex++)
        if (!this.guilds.has(id)) ids.push(id)
      }
    } else {
      if (!Array.isArray(countOrIds)) throw new OptionsError('ids', 'must be a number or an array of snowflake strings')
      countOrIds.forEach((id, i) => {
        if (!isSnowflake(id)) throw new OptionsError(`ids[${i}]`, `must be a snowflake string, got ${JSON.stringify(id)}`)
      })
      for (const id of countOrIds) if (!this.guilds.has(id) && !ids.includes(id)) ids.push(id)
    }
    const joinedAt = new Date().toISOString()
    return ids.map((id) => {
      const guild: SimGuild = {
        id,
        name: `Sim Guild ${this.guilds.size + 1}`,
        ownerId: this.ownerId,
        memberCount: 1,
        joinedAt,
        routingKey: BigInt(id) >> 22n,
      }
      this.guilds.set(id, guild)
      return guild
    })
  }

  /** Removes a guild; returns it, or undefined when it was not known. */
  remove(id: string): SimGuild | undefined {
    const guild = this.guilds.get(id)
    if (guild) this.guilds.delete(id)
    return guild
  }

  /** Removes the most recently added guilds until `count` remain; returns the removed ones. */
  truncate(count: number): SimGuild[] {
    const all = [...this.guilds.values()]
    const removed = all.slice(count)
    for (const g of removed) this.guilds.delete(g.id)
    return removed
  }

  get(id: string): SimGuild | undefined {
    return this.guilds.get(id)
  }

  ids(): string[] {
    return [...this.guilds.keys()]
  }

  /** `id >> 22` of every guild: all that shard routing needs. */
  *routingKeys(): IterableIterator<bigint> {
    for (const g of this.guilds.values()) yield g.routingKey
  }

  /** Guilds that `shard_id = (guild_id >> 22) % total` routes to `shardId`. */
  forShard(shardId: number, total: number): SimGuild[] {
    const n = BigInt(total)
    const id = BigInt(shardId)
    const out: SimGuild[] = []
    for (const g of this.guilds.values()) if (g.routingKey % n === id) out.push(g)
    return out
  }
}

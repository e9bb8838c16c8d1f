/** Pure shard arithmetic: parsing the `shards` option, splitting shards into instances, guild routing. */
import { OptionsError } from '../errors.js'

/** `shards` as users write it: N (0..N-1), a list, an inclusive range, or 'auto' (ask /gateway/bot). */
export type ShardsOption = number | number[] | { from: number; to: number } | 'auto'

export interface InstancePlan {
  id: number
  shards: number[]
}

export function parseShards(field: string, value: unknown): number[] | 'auto' {
  if (value === 'auto') return 'auto'
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1) {
      throw new OptionsError(field, `a shard count must be an integer ≥ 1, got ${value}; use a list or { from, to } for explicit ids`)
    }
    return range(0, value - 1)
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new OptionsError(field, 'the shard list is empty; give at least one shard id')
    const seen = new Set<number>()
    for (const [i, id] of value.entries()) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
        throw new OptionsError(`${field}[${i}]`, `shard ids are integers ≥ 0, got ${JSON.stringify(id)}`)
      }
      if (seen.has(id)) throw new OptionsError(`${field}[${i}]`, `shard ${id} is listed twice; each shard may run once`)
      seen.add(id)
    }
    return [...value].sort((a, b) => a - b)
  }
  if (typeof value === 'object' && value !== null && 'from' in value && 'to' in value) {
    const { from, to } = value as { from: unknown; to: unknown }
    if (typeof from !== 'number' || !Number.isInteger(from) || from < 0) {
      throw new OptionsError(`${field}.from`, `must be an integer ≥ 0, got ${JSON.stringify(from)}`)
    }
    if (typeof to !== 'number' || !Number.isInteger(to) || to < from) {
      throw new OptionsError(`${field}.to`, `must be an integer ≥ from (${from}); the range is inclusive, got ${JSON.stringify(to)}`)
    }
    return range(from, to)
  }
  throw new OptionsError(field, `expected a number, an array of shard ids, { from, to } or 'auto', got ${JSON.stringify(value)}`)
}

export function range(from: number, to: number): number[] {
  const out: number[] = []
  for (let i = from; i <= to; i++) out.push(i)
  return out
}

/** Contiguous chunks: [0,1],[2,3],... Instance ids start at `firstId` so they stay unique across machines. */
export function planInstances(shards: number[], shardsPerInstance: number, firstId = 0): InstancePlan[] {
  const plans: InstancePlan[] = []
  for (let i = 0; i < shards.length; i += shardsPerInstance) {
    plans.push({ id: firstId + plans.length, shards: shards.slice(i, i + shardsPerInstance) })
  }
  return plans
}

export function instanceCount(shardCount: number, shardsPerInstance: number): number {
  return Math.ceil(shardCount / shardsPerInstance)
}

/** Discord's routing rule: `(guild_id >> 22) % num_shards`, in BigInt so 64-bit ids stay exact. */
export function shardForGuild(guildId: string | bigint | number, totalShards: number): number {
  if (typeof guildId === 'number' && !Number.isSafeInteger(guildId)) {
    // Real guild ids are above 2^53: as a JS number they have already lost digits, so the shard would be wrong.
    throw new OptionsError('guildId', `${guildId} is not exact as a number (snowflakes exceed 2^53); pass the id as a string, as Discord sends it`)
  }
  let id: bigint
  try {
    id = BigInt(guildId)
  } catch {
    throw new OptionsError('guildId', `not a snowflake: ${JSON.stringify(String(guildId))}`)
  }
  return Number((id >> 22n) % BigInt(totalShards))
}

/** Describes a shard list compactly for logs: "0-7", "0-3,8,10-11". */
export function describeShards(shards: number[]): string {
  const parts: string[] = []
  let start = shards[0]
  let prev = shards[0]
  for (let i = 1; i <= shards.length; i++) {
    const cur = shards[i]
    if (cur === prev + 1) {
      prev = cur
      continue
    }
    parts.push(start === prev ? `${start}` : `${start}-${prev}`)
    start = cur
    prev = cur
  }
  return parts.join(',')
}

/**
 * Re-sharding without downtime, the pure part: what the new shard set is, and whether the day's
 * identify budget can pay for it. The backends run the new set beside the old one (Discord allows
 * sessions of two shard counts at once), switch routing once every new shard is ready, then stop the
 * old set.
 */
import { ShardingError } from '../errors.js'
import { arrayOf, int, object, optional, schema } from '../options/schema.js'
import { parseShards, range } from './shard-plan.js'

export interface ReshardOptions {
  /** The new total: a number, or 'auto' to take /gateway/bot's recommendation (needs `token`). Default: the current total. */
  totalShards?: number | 'auto'
  /** Shards per process / worker in the new set (default: as now). */
  shardsPerInstance?: number
  /** MACHINES: the new range of each point, in the order of `machines.points` (default: an even split). */
  points?: { shards: number | number[] | { from: number; to: number }; shardsPerInstance?: number }[]
  /** ms from now; default: none (the new set's start is paced by the identify queue). */
  timeout?: number
}

export const reshardSchema = object({
  totalShards: optional(schema<number | 'auto'>("an integer ≥ 1 or 'auto'", (v, f) => (v === 'auto' ? 'auto' : int(1, 1_000_000).parse(v, f)))),
  shardsPerInstance: optional(int(1, 10_000)),
  points: optional(arrayOf(object({ shards: schema<unknown>('shards', (v) => v), shardsPerInstance: optional(int(1, 10_000)) }), 10_000)),
  timeout: optional(int(1)),
})

export interface ReshardPlan {
  totalShards: number
  shardsPerInstance: number
}

/** Refuses a re-shard the budget cannot pay for, with the numbers, before anything starts. */
export function checkBudget(budget: { remaining: number; resetAt: number } | null, newShards: number): void {
  if (!budget || budget.remaining >= newShards) return
  const wait = Math.max(0, budget.resetAt - Date.now())
  throw new ShardingError(
    'BUDGET_EXCEEDED',
    `a re-shard to ${newShards} shards needs ${newShards} identifies, but only ${budget.remaining} are left in today's session budget (it resets in ${Math.ceil(wait / 60_000)} min); retry after the reset`,
  )
}

/** Splits shards 0..total-1 over `n` machines as evenly as possible, in contiguous ranges. */
export function evenSplit(total: number, n: number): number[][] {
  const out: number[][] = []
  let next = 0
  for (let i = 0; i < n; i++) {
    const size = Math.floor(total / n) + (i < total % n ? 1 : 0)
    out.push(range(next, next + size - 1))
    next += size
  }
  return out
}

/** The new ranges per point for MACHINES: given ones checked (inside the total, no overlap, all covered), or an even split. */
export function pointRanges(total: number, points: ReshardOptions['points'], pointCount: number): number[][] {
  if (!points) return evenSplit(total, pointCount)
  if (points.length !== pointCount) throw new ShardingError('INVALID_OPTION', `reshard.points: has ${points.length} entries for ${pointCount} machines; give one range per point, in the order of machines.points`)
  const owner = new Map<number, number>()
  const ranges = points.map((p, i) => {
    const shards = parseShards(`reshard.points[${i}].shards`, p.shards)
    if (shards === 'auto') throw new ShardingError('INVALID_OPTION', `reshard.points[${i}].shards: 'auto' is not allowed; give { from, to }`)
    for (const s of shards) {
      if (s >= total) throw new ShardingError('INVALID_OPTION', `reshard.points[${i}].shards: shard ${s} does not exist in ${total} shards`)
      if (owner.has(s)) throw new ShardingError('INVALID_OPTION', `reshard.points[${i}].shards: shard ${s} is also in points[${owner.get(s)}]`)
      owner.set(s, i)
    }
    return shards
  })
  if (owner.size !== total) throw new ShardingError('INVALID_OPTION', `reshard.points: the ranges cover ${owner.size} of ${total} shards; every shard needs a machine`)
  return ranges
}


/** Discord's sharding arithmetic that the simulator's recommendation, 4011 checks and coverage stats share. */

export interface RecommendationInput {
  /** Guilds the bot is in now. */
  guilds: number
  /** `recommendedShards` when pinned by the user; null to compute it. */
  pinned: number | null
  guildsPerShardRecommended: number
  maxGuildsPerShard: number
  requiredShardMultiple: number
}

/**
 * The `shards` that `/gateway/bot` recommends: the pinned value, or one shard per
 * `guildsPerShardRecommended` guilds — but never so few that an evenly spread shard would hold more than
 * `maxGuildsPerShard` (Discord's recommendation never asks for a count it would close with 4011) —
 * rounded up to a multiple of `requiredShardMultiple`.
 */
export function recommendShardCount(i: RecommendationInput): number {
  const base =
    i.pinned ?? Math.max(1, Math.ceil(i.guilds / i.guildsPerShardRecommended), Math.ceil(i.guilds / i.maxGuildsPerShard))
  return Math.ceil(base / i.requiredShardMultiple) * i.requiredShardMultiple
}

/** How many guilds the connected sessions cover, counted per guild. */
export interface GuildCoverage {
  /** Guilds the bot is in. */
  guilds: number
  /** Guilds no connected session receives (their events go nowhere). */
  uncovered: number
  /** Guilds more than one connected session receives (the bot sees, and may answer, their events twice). */
  multiple: number
}

/**
 * Counts, for each guild, the connected sessions that Discord's rule `(guild_id >> 22) % total === id`
 * routes it to, whatever each session's total. Work is guilds × distinct totals, not guilds × sessions.
 */
export function guildCoverage(routingKeys: Iterable<bigint>, connected: Iterable<readonly [number, number]>): GuildCoverage {
  const byTotal = new Map<number, Map<number, number>>()
  for (const [id, total] of connected) {
    let ids = byTotal.get(total)
    if (!ids) byTotal.set(total, (ids = new Map()))
    ids.set(id, (ids.get(id) ?? 0) + 1)
  }
  const totals = [...byTotal].map(([total, ids]) => [BigInt(total), ids] as const)
  let guilds = 0
  let uncovered = 0
  let multiple = 0
  for (const key of routingKeys) {
    guilds++
    let sessions = 0
    for (const [total, ids] of totals) sessions += ids.get(Number(key % total)) ?? 0
    if (sessions === 0) uncovered++
    else if (sessions > 1) multiple++
  }
  return { guilds, uncovered, multiple }
}

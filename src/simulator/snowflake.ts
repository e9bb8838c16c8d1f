/** Discord's epoch (2015-01-01T00:00:00.000Z): snowflake timestamps count from here. */
export const DISCORD_EPOCH = 1_420_070_400_000

/**
 * Timestamp offset (ms after {@link DISCORD_EPOCH}) of the first generated guild id. It is a multiple of
 * lcm(1..23) = 5 354 228 880, so guild `i` (timestamp `base + i`) routes to shard `i % n` for every
 * shard count `n` up to 23 (and any divisor of that lcm): tests can predict which shard owns which guild.
 */
export const GUILD_ID_BASE_OFFSET = 30n * 5_354_228_880n

const LOW_MASK = 0x3f_ffffn

/**
 * Builds a snowflake from a Unix timestamp in ms and the low 22 bits (worker, process, increment).
 * Only the timestamp part routes guilds to shards: `(id >> 22) % shards`.
 */
export function createSnowflake(timestampMs: number | bigint, low22: number | bigint = 0): string {
  const ts = BigInt(timestampMs) - BigInt(DISCORD_EPOCH)
  if (ts < 0n) throw new RangeError(`timestamp ${timestampMs} is before the Discord epoch`)
  const low = BigInt(low22)
  if (low < 0n || low > LOW_MASK) throw new RangeError(`low22 ${low22} does not fit in 22 bits`)
  return ((ts << 22n) | low).toString()
}

/** Unix timestamp (ms) encoded in a snowflake. */
export function snowflakeTimestamp(id: string | bigint): number {
  return Number((BigInt(id) >> 22n) + BigInt(DISCORD_EPOCH))
}

/** True for a decimal string that parses as an unsigned 64-bit snowflake. */
export function isSnowflake(id: unknown): id is string {
  if (typeof id !== 'string' || !/^\d{1,20}$/.test(id)) return false
  return BigInt(id) < 1n << 64n
}

/** Discord's routing rule: `shard_id = (guild_id >> 22) % num_shards`, in BigInt so large ids stay exact. */
export function shardOfGuild(guildId: string | bigint, totalShards: number): number {
  if (!Number.isInteger(totalShards) || totalShards < 1) {
    throw new RangeError(`totalShards must be a positive integer, got ${totalShards}`)
  }
  return Number((BigInt(guildId) >> 22n) % BigInt(totalShards))
}

/**
 * The `index`-th generated guild id. Consecutive indexes step the timestamp by 1 ms, so guilds spread
 * evenly over any shard count, and guild `index` lives on shard `index % n` for `n <= 23`.
 */
export function guildIdAt(index: number): string {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`index must be a non-negative integer, got ${index}`)
  return (((GUILD_ID_BASE_OFFSET + BigInt(index)) << 22n) | BigInt(index & 0xfff)).toString()
}

/** `count` generated guild ids starting at index `from` (see {@link guildIdAt}). */
export function makeGuildIds(count: number, from = 0): string[] {
  const ids: string[] = []
  for (let i = 0; i < count; i++) ids.push(guildIdAt(from + i))
  return ids
}

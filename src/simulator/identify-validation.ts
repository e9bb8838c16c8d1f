import { GatewayCloseCode } from './protocol.js'

export interface IdentifyCheckContext {
  tokens: readonly string[]
  knownIntents: number
  privilegedIntents: number
  approvedPrivileged: number
  requiredShardMultiple: number
  maxGuildsPerShard: number
  /** Guilds a session with this shard would receive; `null` shard means "no sharding" (all guilds). */
  guildCount(shard: [number, number] | null): number
}

export type IdentifyCheck =
  | { ok: true; token: string; intents: number; shard: [number, number] | null }
  | { ok: false; code: number; reason: string }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Strips an optional `Bot ` prefix and reports whether the token belongs to this bot. */
export function matchToken(tokens: readonly string[], sent: unknown): string | null {
  if (typeof sent !== 'string') return null
  const bare = sent.startsWith('Bot ') ? sent.slice(4) : sent
  return tokens.includes(bare) ? bare : null
}

/**
 * Validates an IDENTIFY `d` in gateway.md §5 order: token (4004), shape (4001), unknown intents (4013),
 * unapproved privileged intents (4014), shard (4010), guilds per shard (4011).
 */
export function checkIdentify(d: unknown, ctx: IdentifyCheckContext): IdentifyCheck {
  const fail = (code: number, reason: string): IdentifyCheck => ({ ok: false, code, reason })
  if (!isObject(d)) return fail(GatewayCloseCode.UnknownOpcode, 'IDENTIFY d must be an object')
  const token = matchToken(ctx.tokens, d.token)
  if (token === null) return fail(GatewayCloseCode.AuthenticationFailed, 'Authentication failed.')

  if (!isObject(d.properties)) return fail(GatewayCloseCode.UnknownOpcode, 'IDENTIFY properties must be an object')
  if (typeof d.intents !== 'number' || !Number.isInteger(d.intents) || d.intents < 0) {
    return fail(GatewayCloseCode.UnknownOpcode, 'IDENTIFY intents must be a non-negative integer')
  }
  if (d.large_threshold !== undefined) {
    const lt = d.large_threshold
    if (typeof lt !== 'number' || !Number.isInteger(lt) || lt < 50 || lt > 250) {
      return fail(GatewayCloseCode.UnknownOpcode, 'IDENTIFY large_threshold must be an integer from 50 to 250')
    }
  }
  if (d.compress !== undefined && typeof d.compress !== 'boolean') {
    return fail(GatewayCloseCode.UnknownOpcode, 'IDENTIFY compress must be a boolean')
  }
  if (d.presence !== undefined && d.presence !== null && !isObject(d.presence)) {
    return fail(GatewayCloseCode.UnknownOpcode, 'IDENTIFY presence must be an object')
  }
  if (d.shard !== undefined && d.shard !== null && (!Array.isArray(d.shard) || d.shard.length !== 2)) {
    return fail(GatewayCloseCode.UnknownOpcode, 'IDENTIFY shard must be [shard_id, num_shards]')
  }

  const intents = d.intents
  // Bitwise ops truncate to 32 bits, so anything above bit 30 is checked by value first.
  if (intents > 0x7fff_ffff || (intents & ~ctx.knownIntents) !== 0) return fail(GatewayCloseCode.InvalidIntents, 'Invalid intent(s).')
  if ((intents & ctx.privilegedIntents & ~ctx.approvedPrivileged) !== 0) {
    return fail(GatewayCloseCode.DisallowedIntents, 'Disallowed intent(s).')
  }

  let shard: [number, number] | null = null
  if (Array.isArray(d.shard)) {
    const [id, n] = d.shard as unknown[]
    const validInts = Number.isInteger(id) && Number.isInteger(n)
    if (!validInts || (n as number) < 1 || (id as number) < 0 || (id as number) >= (n as number)) {
      return fail(GatewayCloseCode.InvalidShard, 'Invalid shard.')
    }
    if ((n as number) % ctx.requiredShardMultiple !== 0) {
      return fail(GatewayCloseCode.InvalidShard, `Invalid shard: num_shards must be a multiple of ${ctx.requiredShardMultiple}.`)
    }
    shard = [id as number, n as number]
  }
  if (ctx.guildCount(shard) > ctx.maxGuildsPerShard) return fail(GatewayCloseCode.ShardingRequired, 'Sharding required.')
  return { ok: true, token, intents, shard }
}

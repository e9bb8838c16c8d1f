import { OptionsError } from '../errors.js'
import { createSnowflake, isSnowflake } from './snowflake.js'

/** What the simulator does with an IDENTIFY once the daily session budget is spent. */
export type BudgetExhaustedMode = 'terminate' | 'invalid-session'

/** Who may call the `/__sim/*` admin HTTP API. */
export type AdminHttpAccess = 'loopback' | 'any' | 'off'

/** Privileged intents: GUILD_MEMBERS (1<<1), GUILD_PRESENCES (1<<8), MESSAGE_CONTENT (1<<15). */
export const PRIVILEGED_INTENTS = 33026
/** Documented intent bits 0–16, 20, 21, 24, 25. */
export const KNOWN_INTENTS_MASK = 0x331ffff

export interface SessionStartLimitOptions {
  /** Session starts (IDENTIFYs) per reset period. Default 1000. */
  total?: number
  /** Starts left now. Default `total`. */
  remaining?: number
  /** Length of the budget period in ms; `remaining` refills to `total` when it ends. Default 86 400 000. */
  resetAfterMs?: number
}

export interface RateLimitOptions {
  /** Payloads a connection may send per window before it is closed with 4008. Default 120. */
  events?: number
  /** Window length in ms. Default 60 000. */
  windowMs?: number
  /** Count heartbeats (op 1) too. Default false: discord.js does not count them either (gateway.md §2.1 note 9). */
  countHeartbeats?: boolean
  /** Sliding window instead of discord.js's fixed window that starts when the socket opens. Default false. */
  sliding?: boolean
}

export interface IntentOptions {
  /** Bits a client may send; any other bit closes with 4013. Default {@link KNOWN_INTENTS_MASK}. */
  knownMask?: number
  /** Privileged bits this bot is approved for; others close with 4014. Default all ({@link PRIVILEGED_INTENTS}). */
  approvedPrivileged?: number
}

/** The bot user sent in READY and `GET /users/@me`. Unset fields get defaults. */
export interface SimulatorUser {
  id?: string
  username?: string
  discriminator?: string
  global_name?: string | null
  avatar?: string | null
  flags?: number
}

export interface SimulatorOptions {
  /** Bot token clients must send (a `Bot ` prefix is accepted). Default `'sim-token'`. */
  token?: string
  /** More accepted tokens; all of them act as the same bot. */
  tokens?: string[]
  /** Guilds to create: a count (ids generated, see `guildIdAt`) or explicit snowflakes. Default 100. */
  guilds?: number | string[]
  /** `max_concurrency`: identify rate-limit keys are `shard % maxConcurrency`. Default 1. */
  maxConcurrency?: number
  /** One IDENTIFY per key per this many ms. Default 5000. */
  windowMs?: number
  /** An IDENTIFY up to this many ms early is still accepted (clients measure from their grant). Default 100. */
  toleranceMs?: number
  /** `shards` in `/gateway/bot`. Default computed from the current guild count. */
  recommendedShards?: number | null
  /** Guilds per recommended shard, for the computed `shards`. Default 1000. */
  guildsPerShardRecommended?: number
  /** Shard counts must be a multiple of this (else 4010); also rounds up the recommendation. Default 1. */
  requiredShardMultiple?: number
  /** More guilds than this on one session closes it with 4011. Default 2500. */
  maxGuildsPerShard?: number
  /** `heartbeat_interval` in HELLO. Default 41 250. */
  heartbeatIntervalMs?: number
  /** Close with 4000 when no heartbeat came for this long. Default 1.5 × `heartbeatIntervalMs`. */
  heartbeatTimeoutMs?: number
  /** Daily session start budget. */
  sessionStartLimit?: SessionStartLimitOptions
  /** Default `'terminate'`: close every session with 4004 and rotate the token (Discord's documented outcome). */
  budgetExhaustedMode?: BudgetExhaustedMode
  /** Delay before the op 9 answering a rate-limited IDENTIFY. Default 250. */
  invalidSessionDelayMs?: number
  /** How long a dropped session stays resumable. Default 60 000. */
  resumeWindowMs?: number
  /** `reconnect()` sends op 7 and force-closes with 4000 after this many ms if the client has not. Default 1000. */
  reconnectCloseDelayMs?: number
  /** Dispatches kept per session for RESUME replay. Default 10 000. */
  replayBufferSize?: number
  rateLimit?: RateLimitOptions
  intents?: IntentOptions
  /** Base URL to advertise (e.g. `http://10.0.0.5:8787`). Default: the bound host and port. */
  publicUrl?: string | null
  /** Application id in READY. Default derived from a fixed timestamp. */
  applicationId?: string
  user?: SimulatorUser
  /** Default `'loopback'`: only 127.0.0.1/::1 may use `/__sim/*`. */
  adminHttp?: AdminHttpAccess
}

/** Options with every default filled in. */
export interface ResolvedSimulatorOptions {
  tokens: string[]
  guilds: number | string[]
  maxConcurrency: number
  windowMs: number
  toleranceMs: number
  recommendedShards: number | null
  guildsPerShardRecommended: number
  requiredShardMultiple: number
  maxGuildsPerShard: number
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  sessionStartLimit: Required<SessionStartLimitOptions>
  budgetExhaustedMode: BudgetExhaustedMode
  invalidSessionDelayMs: number
  resumeWindowMs: number
  reconnectCloseDelayMs: number
  replayBufferSize: number
  rateLimit: Required<RateLimitOptions>
  intents: Required<IntentOptions>
  publicUrl: string | null
  applicationId: string
  user: Required<SimulatorUser>
  adminHttp: AdminHttpAccess
}

const DEFAULT_APPLICATION_ID = createSnowflake(Date.UTC(2023, 0, 1))

const KNOWN_KEYS = new Set<string>([
  'token', 'tokens', 'guilds', 'maxConcurrency', 'windowMs', 'toleranceMs', 'recommendedShards',
  'guildsPerShardRecommended', 'requiredShardMultiple', 'maxGuildsPerShard', 'heartbeatIntervalMs',
  'heartbeatTimeoutMs', 'sessionStartLimit', 'budgetExhaustedMode', 'invalidSessionDelayMs', 'resumeWindowMs',
  'reconnectCloseDelayMs', 'replayBufferSize', 'rateLimit', 'intents', 'publicUrl', 'applicationId', 'user',
  'adminHttp',
])
const NESTED_KEYS = {
  sessionStartLimit: ['total', 'remaining', 'resetAfterMs'],
  rateLimit: ['events', 'windowMs', 'countHeartbeats', 'sliding'],
  intents: ['knownMask', 'approvedPrivileged'],
  user: ['id', 'username', 'discriminator', 'global_name', 'avatar', 'flags'],
} as const

function int(field: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`
    throw new OptionsError(field, `must be an integer ${range}, got ${JSON.stringify(value)}`)
  }
  return value
}

function bool(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new OptionsError(field, `must be a boolean, got ${JSON.stringify(value)}`)
  return value
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (!allowed.includes(value as T)) {
    throw new OptionsError(field, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`)
  }
  return value as T
}

function str(field: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || value.length === 0) {
    throw new OptionsError(field, `must be a non-empty string, got ${JSON.stringify(value)}`)
  }
  return value
}

function plainObject(field: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OptionsError(field, `must be an object, got ${JSON.stringify(value)}`)
  }
  const allowed = NESTED_KEYS[field as keyof typeof NESTED_KEYS] as readonly string[] | undefined
  if (allowed) {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) throw new OptionsError(`${field}.${key}`, `unknown option (known: ${allowed.join(', ')})`)
    }
  }
  return value as Record<string, unknown>
}

function resolveTokens(token: unknown, tokens: unknown): string[] {
  const out: string[] = []
  if (token !== undefined) out.push(str('token', token, ''))
  if (tokens !== undefined) {
    if (!Array.isArray(tokens)) throw new OptionsError('tokens', 'must be an array of non-empty strings')
    tokens.forEach((t, i) => out.push(str(`tokens[${i}]`, t, '')))
  }
  for (const [i, t] of out.entries()) {
    if (/\s/.test(t)) throw new OptionsError(i === 0 && token !== undefined ? 'token' : 'tokens', 'must not contain whitespace')
  }
  return out.length === 0 ? ['sim-token'] : [...new Set(out)]
}

function resolveGuilds(value: unknown): number | string[] {
  if (value === undefined) return 100
  if (Array.isArray(value)) {
    value.forEach((id, i) => {
      if (!isSnowflake(id)) throw new OptionsError(`guilds[${i}]`, `must be a snowflake string, got ${JSON.stringify(id)}`)
    })
    return [...new Set(value as string[])]
  }
  return int('guilds', value, 100, 0, 1_000_000)
}

function resolvePublicUrl(value: unknown): string | null {
  if (value === undefined || value === null) return null
  const raw = str('publicUrl', value, '')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new OptionsError('publicUrl', `must be an absolute URL like http://10.0.0.5:8787, got ${JSON.stringify(raw)}`)
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new OptionsError('publicUrl', `must use http, https, ws or wss, got ${url.protocol}`)
  }
  if (url.search || url.hash) throw new OptionsError('publicUrl', 'must not have a query string or fragment')
  return raw.replace(/\/+$/, '')
}

/** Fills defaults and validates; every error is an {@link OptionsError} naming the field. */
export function resolveOptions(input: SimulatorOptions = {}): ResolvedSimulatorOptions {
  const o = plainObject('options', input)
  for (const key of Object.keys(o)) {
    if (!KNOWN_KEYS.has(key)) throw new OptionsError(key, 'unknown simulator option')
  }
  const heartbeatIntervalMs = int('heartbeatIntervalMs', o.heartbeatIntervalMs, 41_250, 1)
  const ssl = plainObject('sessionStartLimit', o.sessionStartLimit)
  const total = int('sessionStartLimit.total', ssl.total, 1000, 0)
  const remaining = int('sessionStartLimit.remaining', ssl.remaining, total, 0)
  if (remaining > total) throw new OptionsError('sessionStartLimit.remaining', `must be <= total (${total}), got ${remaining}`)
  const rl = plainObject('rateLimit', o.rateLimit)
  const intents = plainObject('intents', o.intents)
  const user = plainObject('user', o.user)
  const applicationId = o.applicationId === undefined ? DEFAULT_APPLICATION_ID : str('applicationId', o.applicationId, '')
  if (!isSnowflake(applicationId)) throw new OptionsError('applicationId', 'must be a snowflake string')
  const userId = user.id === undefined ? applicationId : str('user.id', user.id, '')
  if (!isSnowflake(userId)) throw new OptionsError('user.id', 'must be a snowflake string')
  const nullableStr = (field: string, v: unknown): string | null => (v === null ? null : str(field, v, ''))

  return {
    tokens: resolveTokens(o.token, o.tokens),
    guilds: resolveGuilds(o.guilds),
    maxConcurrency: int('maxConcurrency', o.maxConcurrency, 1, 1, 1024),
    windowMs: int('windowMs', o.windowMs, 5000, 0),
    toleranceMs: int('toleranceMs', o.toleranceMs, 100, 0),
    recommendedShards: o.recommendedShards === null ? null : int('recommendedShards', o.recommendedShards, 0, 1) || null,
    guildsPerShardRecommended: int('guildsPerShardRecommended', o.guildsPerShardRecommended, 1000, 1),
    requiredShardMultiple: int('requiredShardMultiple', o.requiredShardMultiple, 1, 1),
    maxGuildsPerShard: int('maxGuildsPerShard', o.maxGuildsPerShard, 2500, 1),
    heartbeatIntervalMs,
    heartbeatTimeoutMs: int('heartbeatTimeoutMs', o.heartbeatTimeoutMs, Math.ceil(heartbeatIntervalMs * 1.5), 1),
    sessionStartLimit: {
      total,
      remaining,
      resetAfterMs: int('sessionStartLimit.resetAfterMs', ssl.resetAfterMs, 86_400_000, 1),
    },
    budgetExhaustedMode: oneOf('budgetExhaustedMode', o.budgetExhaustedMode, ['terminate', 'invalid-session'], 'terminate'),
    invalidSessionDelayMs: int('invalidSessionDelayMs', o.invalidSessionDelayMs, 250, 0),
    resumeWindowMs: int('resumeWindowMs', o.resumeWindowMs, 60_000, 0),
    reconnectCloseDelayMs: int('reconnectCloseDelayMs', o.reconnectCloseDelayMs, 1000, 0),
    replayBufferSize: int('replayBufferSize', o.replayBufferSize, 10_000, 0),
    rateLimit: {
      events: int('rateLimit.events', rl.events, 120, 1),
      windowMs: int('rateLimit.windowMs', rl.windowMs, 60_000, 1),
      countHeartbeats: bool('rateLimit.countHeartbeats', rl.countHeartbeats, false),
      sliding: bool('rateLimit.sliding', rl.sliding, false),
    },
    intents: {
      knownMask: int('intents.knownMask', intents.knownMask, KNOWN_INTENTS_MASK, 0, 2 ** 31 - 1),
      approvedPrivileged: int('intents.approvedPrivileged', intents.approvedPrivileged, PRIVILEGED_INTENTS, 0, 2 ** 31 - 1),
    },
    publicUrl: resolvePublicUrl(o.publicUrl),
    applicationId,
    user: {
      id: userId,
      username: str('user.username', user.username, 'SimBot'),
      discriminator: str('user.discriminator', user.discriminator, '0000'),
      global_name: user.global_name === undefined ? null : nullableStr('user.global_name', user.global_name),
      avatar: user.avatar === undefined ? null : nullableStr('user.avatar', user.avatar),
      flags: int('user.flags', user.flags, 0, 0),
    },
    adminHttp: oneOf('adminHttp', o.adminHttp, ['loopback', 'any', 'off'], 'loopback'),
  }
}

/**
 * Merges a `configure()` patch over the options given so far (nested objects merge key by key; `token`
 * or `tokens` in the patch replace the whole token set) and validates the result.
 */
export function mergeOptions(current: SimulatorOptions, patch: SimulatorOptions): SimulatorOptions {
  const p = plainObject('options', patch) as SimulatorOptions
  const merged: SimulatorOptions = { ...current }
  if ('token' in p || 'tokens' in p) {
    delete merged.token
    delete merged.tokens
  }
  for (const [key, value] of Object.entries(p) as Array<[keyof SimulatorOptions, unknown]>) {
    if (key in NESTED_KEYS && value !== undefined) {
      const base = (current[key] ?? {}) as Record<string, unknown>
      ;(merged as Record<string, unknown>)[key] = { ...base, ...plainObject(key, value) }
    } else {
      ;(merged as Record<string, unknown>)[key] = value
    }
  }
  return merged
}

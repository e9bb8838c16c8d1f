/**
 * What an instance learns from its manager at spawn time. It travels as JSON in one environment
 * variable (both modes: workers get their own env copy), next to the discord.js variables
 * `SHARDING_MANAGER`, `SHARDS` and `SHARD_COUNT` that an unmodified discord.js Client reads.
 */
import { CONTEXT_ENV, PROTOCOL_VERSION } from '../constants.js'

/** Session data a shard needs to RESUME (the shape @discordjs/ws uses). */
export interface SessionInfo {
  sessionId: string
  sequence: number
  resumeURL: string
  shardId: number
  shardCount: number
  /** The bot identity from the session's READY (`user`, `application`), so a resuming instance can become ready. */
  identity?: { user: unknown; application: unknown }
}

/**
 * The manager's answer to /gateway/bot, handed to the instance so that its discord.js client does not
 * ask Discord again on login (one request and one round trip less per instance).
 */
export interface GatewayHandOver {
  /** The REST base the manager asked; a client whose REST base differs asks for itself. */
  api: string
  /** When the manager wrote it (epoch ms); `reset_after` counts from here. */
  at: number
  data: { url: string; shards: number; session_start_limit: { total: number; remaining: number; reset_after: number; max_concurrency: number } }
}

export interface InstanceContext {
  v: number
  instanceId: number
  machineId: string
  mode: 'processes' | 'workers'
  shards: number[]
  totalShards: number
  /** The client file the instance runs (absolute path). */
  file: string
  /** Last known sessions of this instance's shards, handed over on respawn. */
  sessions: Record<number, SessionInfo>
  /** False while this instance belongs to a new shard set that a re-shard has not switched to yet. */
  active?: boolean
  /** Adapt an unmodified discord.js bot from the preloaded runtime (manager option `adaptDiscordJs`). Absent: true. */
  adaptDiscordJs?: boolean
  /** /gateway/bot as the manager knows it (absent when the manager did not ask, e.g. without a token). */
  gateway?: GatewayHandOver
  /**
   * An identify turn (answered with the manager's `Date.now()`, same machine) that the bot receives
   * more than this many ms after the manager answered is not used: the runtime asks again
   * (InstanceRuntime.identifyTurn, every bot's path). Absent: every turn is used.
   */
  turnLimitMs?: number
  /** PROCESSES mode: hold V8's optimizing compiler while the client file resolves its imports (src/runtime/optimizer-hold.ts). Absent: no. */
  holdOptimizer?: boolean
  /** PROCESSES mode: V8 flags the preloaded runtime sets at start (src/runtime/v8-tuning.ts). Absent: none. */
  v8Flags?: string[]
}

export function contextToEnv(ctx: InstanceContext): Record<string, string> {
  return {
    [CONTEXT_ENV]: JSON.stringify(ctx),
    // discord.js ShardingManager compatibility: Client reads these to pick its shards.
    SHARDING_MANAGER: 'true',
    SHARDING_MANAGER_MODE: ctx.mode === 'workers' ? 'worker' : 'process',
    SHARDS: JSON.stringify(ctx.shards),
    SHARD_COUNT: String(ctx.totalShards),
    INSTANCE_ID: String(ctx.instanceId),
    MACHINE_ID: ctx.machineId,
  }
}

export function readContext(env: NodeJS.ProcessEnv = process.env): InstanceContext | null {
  const raw = env[CONTEXT_ENV]
  if (!raw) return null
  let ctx: InstanceContext
  try {
    ctx = JSON.parse(raw) as InstanceContext
  } catch {
    throw new Error(`${CONTEXT_ENV} is not valid JSON; it is set by the sharding manager and must not be edited`)
  }
  if (ctx.v !== PROTOCOL_VERSION) {
    throw new Error(
      `this instance speaks discordoo-sharding protocol ${PROTOCOL_VERSION} but its manager speaks ${ctx.v}; install the same version on both sides`,
    )
  }
  return ctx
}

import type { CloseInitiator } from './gateway-connection.js'
import type { IdentifyRecord, ViolationRecord } from './identify-rules.js'
import type { SessionEndReason } from './sessions.js'

export interface SessionEvent {
  sessionId: string
  shard: [number, number]
  /** Guilds listed in READY. */
  guilds: number
}

export interface SessionEndEvent {
  sessionId: string
  shard: [number, number]
  reason: SessionEndReason
}

export interface ResumeEvent {
  sessionId: string
  shard: [number, number]
  /** Dispatches replayed before RESUMED. */
  replayed: number
  /** The client connected on the `resume_gateway_url` path. */
  viaResumeUrl: boolean
  /** The session still had a socket, which was closed with 4000: two connections fight over one session. */
  tookOver: boolean
}

export interface CloseEvent {
  connectionId: number
  /** Shard of the session attached when the socket closed; null for a socket that never authenticated. */
  shard: [number, number] | null
  sessionId: string | null
  code: number
  initiator: CloseInitiator
}

export interface InvalidSessionEvent {
  connectionId: number
  shard: [number, number] | null
  resumable: boolean
  reason: 'identify-rate-limit' | 'budget-exhausted' | 'unknown-session' | 'replay-unavailable' | 'admin'
}

export interface BudgetExhaustedEvent {
  mode: 'terminate' | 'invalid-session'
  /** The token that replaced the old ones (`terminate` mode). */
  newToken: string | null
}

export interface RecommendedShardsEvent {
  /** `shards` that `/gateway/bot` answers from now on. */
  shards: number
  /** What it answered before. */
  previous: number
  /** Guild count at the change. */
  guilds: number
}

export interface BudgetResetEvent {
  /** `remaining` after the refill (= `total`, unless an IDENTIFY already spent some). */
  remaining: number
  total: number
  /** Milliseconds until the next refill. */
  resetAfterMs: number
}

export interface DuplicateSessionEvent {
  /** `[shard_id, num_shards]` that now has more than one connected session. */
  shard: [number, number]
  /** The session that just connected (IDENTIFY or RESUME). */
  sessionId: string
  /** Connected sessions for that shard now, the newcomer included (2 or more). */
  sessions: number
  at: number
}

export interface ConnectionEvent {
  connectionId: number
  path: string
  version: number
  compress: boolean
}

/** Events a GatewaySimulator emits, so tests can await them instead of sleeping. */
export interface SimulatorEventMap {
  /** A WebSocket was accepted (before HELLO). */
  connection: [ConnectionEvent]
  /** An IDENTIFY passed validation (see `outcome`). */
  identify: [IdentifyRecord]
  /** An IDENTIFY came inside its key's window. */
  violation: [ViolationRecord]
  /** An IDENTIFY created a session (READY sent). */
  session: [SessionEvent]
  /** A session can no longer be resumed. */
  sessionEnd: [SessionEndEvent]
  resume: [ResumeEvent]
  close: [CloseEvent]
  invalidSession: [InvalidSessionEvent]
  rateLimited: [{ connectionId: number; shard: [number, number] | null }]
  budgetExhausted: [BudgetExhaustedEvent]
  /** The `shards` recommendation of `/gateway/bot` changed (guilds added or removed, or options changed). */
  recommendedShards: [RecommendedShardsEvent]
  /** The daily session budget refilled (emitted while the simulator is started). */
  budgetReset: [BudgetResetEvent]
  /** A session connected for a `[shard_id, num_shards]` that already had a connected session. */
  duplicateSession: [DuplicateSessionEvent]
}

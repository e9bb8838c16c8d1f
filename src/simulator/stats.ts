import type { GuildRegistry } from './guilds.js'
import type { IdentifyOutcome, IdentifyRecord, IdentifyRules, ViolationRecord } from './identify-rules.js'
import type { GatewaySessions } from './sessions.js'
import type { ShardOccupancy, ShardOverlap } from './shard-occupancy.js'
import { guildCoverage, type GuildCoverage } from './sharding.js'

/** One session that can still receive events: connected, or dropped but inside its resume window. */
export interface LiveSessionInfo {
  sessionId: string
  /** `[shard_id, num_shards]` as sent in IDENTIFY (`[0, 1]` when the client sent none). */
  shard: [number, number]
  /** A socket is attached right now. */
  connected: boolean
  /** Last sequence number dispatched to it. */
  seq: number
}

/** What one `[shard_id, num_shards]` did since start or `resetStats()`. */
export interface ShardCounters {
  /** Accepted IDENTIFYs (sessions started). */
  identifies: number
  /** IDENTIFYs inside their key's window (op 9). */
  violations: number
  /** IDENTIFYs that found the daily budget at 0. */
  exhausted: number
  /** Successful RESUMEs. */
  resumes: number
  /** Of `resumes`, those that took the session from a socket still attached (closed with 4000). */
  takeovers: number
}

/** `session_start_limit` exactly as `/gateway/bot` reports it now. */
export interface SessionStartLimit {
  total: number
  remaining: number
  /** Milliseconds until `remaining` refills to `total`. */
  reset_after: number
  max_concurrency: number
}

/** Snapshot returned by `GatewaySimulator.stats()` and `GET /__sim/stats`. All counts are since start or `resetStats()`. */
export interface SimulatorStats {
  /** Every IDENTIFY that passed validation (and so spent the daily budget), in arrival order. */
  identifies: IdentifyRecord[]
  /** Accepted IDENTIFY timestamps (ms) per rate-limit key `shard % maxConcurrency`. */
  identifiesByKey: Record<string, number[]>
  /** IDENTIFYs that came inside their key's window (each got op 9 `d:false`). */
  violations: ViolationRecord[]
  /** Accepted IDENTIFYs, i.e. sessions started by IDENTIFY. */
  identifyCount: number
  /** Successful RESUMEs (RESUMED sent). */
  resumes: number
  /** REST requests answered, per route after the API version (`{ '/gateway/bot': 3 }`). */
  rest: Record<string, number>
  /** Of `resumes`, those that connected on the `resume_gateway_url` path (`/resume`). */
  resumesViaResumeUrl: number
  /** Identifies, violations, budget refusals and resumes per `"id/total"`. */
  perShard: Record<string, ShardCounters>
  sessions: {
    live: LiveSessionInfo[]
    /** Connected sessions per `"id/total"`: a healthy bot shows exactly 1 for each of its shards. */
    byShard: Record<string, number>
    /** Connected sessions per shard count (`"total"`): during a re-shard both the old and the new count show up. */
    byTotal: Record<string, number>
    /** `"id/total"` keys with more than one connected session now (legal on Discord, usually a bug in a manager). */
    duplicates: string[]
    /** Most sessions connected at once per `"id/total"`. */
    maxByShard: Record<string, number>
    /** The largest value of `maxByShard` (0 before any session): 1 means no shard ever had a duplicate. */
    maxPerShard: number
    /** Every time a shard had more than one connected session, with when it started and ended. */
    overlaps: ShardOverlap[]
    /** Guilds per number of connected sessions receiving them, by Discord's routing rule for each session's total. */
    coverage: GuildCoverage
  }
  /** Socket closes by close code: server closes counted when the server starts them, client closes when they arrive (1006 = abrupt drop). */
  closes: Record<string, number>
  /** Connections closed with 4008 for sending too fast. */
  rateLimited: number
  /** Daily session starts left (`session_start_limit.remaining`). */
  remaining: number
  /** What `/gateway/bot` would answer now. */
  sessionStartLimit: SessionStartLimit
  /** Budget periods that ended (each refilled `remaining`). */
  budgetResets: number
  /** op 9 payloads sent, whatever the reason. */
  invalidSessions: number
  /** IDENTIFYs that arrived with the budget already at 0. */
  budgetExhausted: number
  /** Open WebSocket connections, authenticated or not. */
  openConnections: number
}

const OUTCOME_FIELD: Record<IdentifyOutcome, keyof ShardCounters> = {
  accepted: 'identifies',
  violation: 'violations',
  exhausted: 'exhausted',
}

/** Plain counters the simulator bumps as things happen. */
export class StatsCounters {
  resumes = 0
  resumesViaResumeUrl = 0
  rateLimited = 0
  invalidSessions = 0
  budgetExhausted = 0
  closes: Record<string, number> = {}
  rest: Record<string, number> = {}
  perShard: Record<string, ShardCounters> = {}
  /** `IdentifyRules.resets` when the stats were last reset. */
  budgetResetsBase = 0

  countRest(route: string): void {
    this.rest[route] = (this.rest[route] ?? 0) + 1
  }

  countClose(code: number): void {
    this.closes[code] = (this.closes[code] ?? 0) + 1
  }

  countIdentify(shardKey: string, outcome: IdentifyOutcome): void {
    this.shard(shardKey)[OUTCOME_FIELD[outcome]]++
  }

  countResume(shardKey: string, tookOver: boolean): void {
    const counts = this.shard(shardKey)
    counts.resumes++
    if (tookOver) counts.takeovers++
  }

  reset(budgetResets: number): void {
    this.resumes = 0
    this.resumesViaResumeUrl = 0
    this.rateLimited = 0
    this.invalidSessions = 0
    this.budgetExhausted = 0
    this.closes = {}
    this.rest = {}
    this.perShard = {}
    this.budgetResetsBase = budgetResets
  }

  private shard(key: string): ShardCounters {
    return (this.perShard[key] ??= { identifies: 0, violations: 0, exhausted: 0, resumes: 0, takeovers: 0 })
  }
}

/** Everything `buildStats` reads. */
export interface StatsSources {
  rules: IdentifyRules
  sessions: GatewaySessions
  occupancy: ShardOccupancy
  guilds: GuildRegistry
  counters: StatsCounters
  sessionStartLimit: SessionStartLimit
  openConnections: number
}

const bump = (map: Record<string, number>, key: string): void => {
  map[key] = (map[key] ?? 0) + 1
}

export function buildStats(src: StatsSources): SimulatorStats {
  const { rules, counters: c } = src
  const sessions = src.sessions.all()
  const live = sessions.map((s) => ({
    sessionId: s.id,
    shard: [s.shard[0], s.shard[1]] as [number, number],
    connected: s.connected,
    seq: s.seq,
  }))
  const connected = sessions.filter((s) => s.connected)
  const byShard: Record<string, number> = {}
  const byTotal: Record<string, number> = {}
  for (const s of connected) {
    bump(byShard, s.shardKey)
    bump(byTotal, String(s.shard[1]))
  }
  const identifiesByKey: Record<string, number[]> = {}
  for (const [key, times] of rules.acceptedByKey) identifiesByKey[key] = [...times]
  const maxByShard = src.occupancy.peaks()
  const perShard: Record<string, ShardCounters> = {}
  for (const [key, counts] of Object.entries(c.perShard)) perShard[key] = { ...counts }
  return {
    identifies: rules.identifies.map((r) => ({ ...r })),
    identifiesByKey,
    violations: rules.violations.map((v) => ({ ...v })),
    identifyCount: rules.identifies.filter((r) => r.outcome === 'accepted').length,
    resumes: c.resumes,
    rest: { ...c.rest },
    resumesViaResumeUrl: c.resumesViaResumeUrl,
    perShard,
    sessions: {
      live,
      byShard,
      byTotal,
      duplicates: Object.keys(byShard).filter((k) => (byShard[k] as number) > 1),
      maxByShard,
      maxPerShard: Math.max(0, ...Object.values(maxByShard)),
      overlaps: src.occupancy.overlaps(),
      coverage: guildCoverage(src.guilds.routingKeys(), connected.map((s) => s.shard)),
    },
    closes: { ...c.closes },
    rateLimited: c.rateLimited,
    remaining: src.sessionStartLimit.remaining,
    sessionStartLimit: { ...src.sessionStartLimit },
    budgetResets: rules.resets - c.budgetResetsBase,
    invalidSessions: c.invalidSessions,
    budgetExhausted: c.budgetExhausted,
    openConnections: src.openConnections,
  }
}

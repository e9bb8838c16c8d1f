import type { IdentifyRecord, IdentifyRules, ViolationRecord } from './identify-rules.js'
import type { SessionStore } from './sessions.js'

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
  /** Of `resumes`, those that connected on the `resume_gateway_url` path (`/resume`). */
  resumesViaResumeUrl: number
  sessions: {
    live: LiveSessionInfo[]
    /** Connected sessions per `"id/total"`: a healthy bot shows exactly 1 for each of its shards. */
    byShard: Record<string, number>
    /** `"id/total"` keys with more than one connected session (legal on Discord, usually a bug in a manager). */
    duplicates: string[]
  }
  /** Socket closes by close code: server closes counted when the server starts them, client closes when they arrive (1006 = abrupt drop). */
  closes: Record<string, number>
  /** Connections closed with 4008 for sending too fast. */
  rateLimited: number
  /** Daily session starts left (`session_start_limit.remaining`). */
  remaining: number
  /** op 9 payloads sent, whatever the reason. */
  invalidSessions: number
  /** IDENTIFYs that arrived with the budget already at 0. */
  budgetExhausted: number
  /** Open WebSocket connections, authenticated or not. */
  openConnections: number
}

/** Plain counters the simulator bumps as things happen. */
export class StatsCounters {
  resumes = 0
  resumesViaResumeUrl = 0
  rateLimited = 0
  invalidSessions = 0
  budgetExhausted = 0
  closes: Record<string, number> = {}

  countClose(code: number): void {
    this.closes[code] = (this.closes[code] ?? 0) + 1
  }

  reset(): void {
    this.resumes = 0
    this.resumesViaResumeUrl = 0
    this.rateLimited = 0
    this.invalidSessions = 0
    this.budgetExhausted = 0
    this.closes = {}
  }
}

export function buildStats(rules: IdentifyRules, sessions: SessionStore, c: StatsCounters, openConnections: number): SimulatorStats {
  const live = sessions.all().map((s) => ({
    sessionId: s.id,
    shard: [s.shard[0], s.shard[1]] as [number, number],
    connected: s.connected,
    seq: s.seq,
  }))
  const byShard: Record<string, number> = {}
  for (const s of live) {
    if (!s.connected) continue
    const key = `${s.shard[0]}/${s.shard[1]}`
    byShard[key] = (byShard[key] ?? 0) + 1
  }
  const identifiesByKey: Record<string, number[]> = {}
  for (const [key, times] of rules.acceptedByKey) identifiesByKey[key] = [...times]
  return {
    identifies: rules.identifies.map((r) => ({ ...r })),
    identifiesByKey,
    violations: rules.violations.map((v) => ({ ...v })),
    identifyCount: rules.identifies.filter((r) => r.outcome === 'accepted').length,
    resumes: c.resumes,
    resumesViaResumeUrl: c.resumesViaResumeUrl,
    sessions: { live, byShard, duplicates: Object.keys(byShard).filter((k) => (byShard[k] as number) > 1) },
    closes: { ...c.closes },
    rateLimited: c.rateLimited,
    remaining: rules.remaining,
    invalidSessions: c.invalidSessions,
    budgetExhausted: c.budgetExhausted,
    openConnections,
  }
}

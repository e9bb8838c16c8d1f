import type { NowFn } from './identify-rules.js'

/** A stretch of time during which one `[shard_id, num_shards]` had more than one connected session. */
export interface ShardOverlap {
  /** `"id/total"`. */
  shard: string
  /** Every session that was connected for this shard at some point during the overlap, in arrival order. */
  sessionIds: string[]
  /** When the second session connected (clock ms). */
  startedAt: number
  /** When it went back to one or none; null while the overlap lasts. */
  endedAt: number | null
  /** Most sessions connected at once during the overlap (2 or more). */
  maxSessions: number
}

/** A session joined a shard that already had a connected session. */
export interface DuplicateJoin {
  shard: string
  sessionId: string
  /** Connected sessions for the shard now, the newcomer included. */
  sessions: number
  at: number
}

/**
 * Which sessions are connected for each `"id/total"`, over time. Duplicate sessions are legal on Discord,
 * but for a manager they mean the bot answers twice; re-shard and fail-over tests assert that they never
 * happen, or only inside a known window, so every overlap is kept with its start and end.
 */
export class ShardOccupancy {
  private readonly connected = new Map<string, Set<string>>()
  private readonly ongoing = new Map<string, ShardOverlap>()
  private history: ShardOverlap[] = []
  private readonly peak = new Map<string, number>()

  constructor(private readonly clock: NowFn, private readonly onDuplicate: (join: DuplicateJoin) => void = () => {}) {}

  /** A session of `shard` got a socket (IDENTIFY, or RESUME of a detached session). */
  connect(shard: string, sessionId: string): void {
    let ids = this.connected.get(shard)
    if (!ids) this.connected.set(shard, (ids = new Set()))
    if (ids.has(sessionId)) return
    ids.add(sessionId)
    const count = ids.size
    this.peak.set(shard, Math.max(this.peak.get(shard) ?? 0, count))
    if (count < 2) return
    const at = this.clock()
    let overlap = this.ongoing.get(shard)
    if (!overlap) {
      overlap = { shard, sessionIds: [...ids], startedAt: at, endedAt: null, maxSessions: count }
      this.ongoing.set(shard, overlap)
      this.history.push(overlap)
    } else {
      overlap.sessionIds.push(sessionId)
      overlap.maxSessions = Math.max(overlap.maxSessions, count)
    }
    this.onDuplicate({ shard, sessionId, sessions: count, at })
  }

  /** A session of `shard` lost its socket or ended. */
  disconnect(shard: string, sessionId: string): void {
    const ids = this.connected.get(shard)
    if (!ids?.delete(sessionId)) return
    if (ids.size === 0) this.connected.delete(shard)
    if (ids.size >= 2) return
    const overlap = this.ongoing.get(shard)
    if (overlap) {
      overlap.endedAt = this.clock()
      this.ongoing.delete(shard)
    }
  }

  /** Overlaps since the last reset, oldest first (ongoing ones have `endedAt: null`). */
  overlaps(): ShardOverlap[] {
    return this.history.map((o) => ({ ...o, sessionIds: [...o.sessionIds] }))
  }

  /** Most sessions connected at once per shard since the last reset. */
  peaks(): Record<string, number> {
    return Object.fromEntries(this.peak)
  }

  /**
   * Forgets finished overlaps and peaks. What is true right now stays: an ongoing overlap is kept
   * (with its original start), and each shard's peak restarts at its current count.
   */
  reset(): void {
    this.history = [...this.ongoing.values()]
    this.peak.clear()
    for (const [shard, ids] of this.connected) this.peak.set(shard, ids.size)
  }
}

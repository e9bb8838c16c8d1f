/**
 * The newest gateway session of every shard, as instances report them. A respawned instance gets
 * its shards' sessions back so it can RESUME instead of spending an IDENTIFY.
 */
import type { SessionInfo } from '../runtime/context.js'

export class SessionStore {
  private readonly sessions = new Map<number, SessionInfo>()

  /** Keeps the newest: a new session id replaces; for the same id only a higher sequence does. */
  update(shardId: number, session: SessionInfo | null): void {
    if (!session) {
      this.sessions.delete(shardId)
      return
    }
    const prev = this.sessions.get(shardId)
    if (prev && prev.sessionId === session.sessionId && prev.sequence > session.sequence) return
    this.sessions.set(shardId, { ...session })
  }

  get(shardId: number): SessionInfo | undefined {
    return this.sessions.get(shardId)
  }

  /** Sessions for these shards that were opened with the same total (Discord refuses a resume otherwise). */
  forShards(shards: number[], totalShards: number): Record<number, SessionInfo> {
    const out: Record<number, SessionInfo> = {}
    for (const id of shards) {
      const s = this.sessions.get(id)
      if (s && s.shardCount === totalShards) out[id] = s
    }
    return out
  }

  all(): Record<number, SessionInfo> {
    return Object.fromEntries(this.sessions)
  }

  get size(): number {
    return this.sessions.size
  }
}

/**
 * The newest gateway session of every shard, as instances report them. A respawned instance gets
 * its shards' sessions back so it can RESUME instead of spending an IDENTIFY. Sessions are kept per
 * shard *and shard count*: during a re-shard, shard 3 of 8 and shard 3 of 16 are different sessions
 * that run side by side, and Discord refuses to resume one as the other.
 */
import type { SessionInfo } from '../runtime/context.js'

const keyOf = (shardId: number, shardCount: number): string => `${shardId}/${shardCount}`

export class SessionStore {
  private readonly sessions = new Map<string, SessionInfo>()

  /**
   * Keeps the newest: a new session id replaces; for the same id only a higher sequence does.
   * `null` forgets the shard's session (it was invalidated) for that shard count.
   */
  update(shardId: number, shardCount: number, session: SessionInfo | null): void {
    const key = keyOf(shardId, session?.shardCount ?? shardCount)
    if (!session) {
      this.sessions.delete(key)
      return
    }
    const prev = this.sessions.get(key)
    if (prev && prev.sessionId === session.sessionId && prev.sequence > session.sequence) return
    this.sessions.set(key, { ...session })
  }

  get(shardId: number, shardCount: number): SessionInfo | undefined {
    return this.sessions.get(keyOf(shardId, shardCount))
  }

  /** Sessions for these shards that were opened with this total (Discord refuses a resume otherwise). */
  forShards(shards: number[], totalShards: number): Record<number, SessionInfo> {
    const out: Record<number, SessionInfo> = {}
    for (const id of shards) {
      const s = this.sessions.get(keyOf(id, totalShards))
      if (s) out[id] = s
    }
    return out
  }

  /** Forgets every session of a shard count (a re-shard retired it). */
  dropCount(shardCount: number): void {
    for (const [key, s] of this.sessions) if (s.shardCount === shardCount) this.sessions.delete(key)
  }

  all(): SessionInfo[] {
    return [...this.sessions.values()]
  }

  get size(): number {
    return this.sessions.size
  }
}

import { randomBytes } from 'node:crypto'
import { simulatorNow } from './clock.js'
import { GatewayOp, type GatewayPayload } from './protocol.js'
import { shardOfGuild } from './snowflake.js'

/** The part of a connection a session writes to. */
export interface SessionSocket {
  send(payload: GatewayPayload): void
  sendOp(op: number, d: unknown): void
  close(code: number, reason?: string): void
  /** Runs `fn` after `ms` unless the socket closes first. */
  later(ms: number, fn: () => void): void
  /** Forgets the session so the socket is unauthenticated again (after op 9: the client may RESUME or IDENTIFY on it). */
  deauthenticate(): void
}

/** Why a session stopped being resumable. */
export type SessionEndReason = 'client-close' | 'server-close' | 'invalidated' | 'expired' | 'terminated' | 'stopped'

/**
 * One gateway session: what IDENTIFY created and RESUME re-attaches to. It outlives its socket for the
 * resume window, and keeps numbering and buffering dispatches while detached so a RESUME can replay them.
 */
export class Session {
  readonly id = randomBytes(16).toString('hex')
  seq = 0
  socket: SessionSocket | null
  disconnectedAt: number | null = null
  expiryTimer: NodeJS.Timeout | null = null
  private readonly buffer: GatewayPayload[] = []

  constructor(
    /** `[id, total]` from IDENTIFY; `[0, 1]` when the client sent no shard (it then gets every guild). */
    readonly shard: readonly [number, number],
    readonly intents: number,
    socket: SessionSocket,
    private readonly bufferSize: number,
  ) {
    this.socket = socket
  }

  get connected(): boolean {
    return this.socket !== null
  }

  get shardKey(): string {
    return `${this.shard[0]}/${this.shard[1]}`
  }

  /** Numbers, buffers and (when attached) sends a dispatch. */
  dispatch(t: string, d: unknown): GatewayPayload {
    const payload: GatewayPayload = { op: GatewayOp.Dispatch, t, s: ++this.seq, d }
    if (this.bufferSize > 0) {
      this.buffer.push(payload)
      if (this.buffer.length > this.bufferSize) this.buffer.shift()
    }
    this.socket?.send(payload)
    return payload
  }

  /** Dispatches after `seq`, or null when some were already dropped from the buffer. */
  replayAfter(seq: number): GatewayPayload[] | null {
    if (seq >= this.seq) return []
    const first = this.buffer[0]
    if (!first || first.s === null || first.s > seq + 1) return null
    return this.buffer.filter((p) => (p.s as number) > seq)
  }
}

/** Live sessions of one bot (resumable ones included), with Discord's routing rule for dispatches. */
export class GatewaySessions {
  private readonly sessions = new Map<string, Session>()

  constructor(
    private readonly onEnd: (session: Session, reason: SessionEndReason) => void,
    /** Called when a session gains its socket (`true`) or loses it (`false`), for occupancy stats. */
    private readonly onConnection: (session: Session, connected: boolean) => void = () => {},
  ) {}

  create(shard: readonly [number, number], intents: number, socket: SessionSocket, bufferSize: number): Session {
    const session = new Session(shard, intents, socket, bufferSize)
    this.sessions.set(session.id, session)
    this.onConnection(session, true)
    return session
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id)
  }

  all(): Session[] {
    return [...this.sessions.values()]
  }

  /**
   * Attaches a socket (IDENTIFY or RESUME). Returns the socket it replaced, which the caller must close:
   * a session has at most one socket.
   */
  attach(session: Session, socket: SessionSocket): SessionSocket | null {
    const previous = session.socket
    session.socket = socket
    session.disconnectedAt = null
    if (session.expiryTimer) clearTimeout(session.expiryTimer)
    session.expiryTimer = null
    if (previous === null) this.onConnection(session, true)
    return previous === socket ? null : previous
  }

  /**
   * Detaches `socket` from its session. A resumable detach keeps the session for `resumeWindowMs`;
   * otherwise it ends now. A socket that was already replaced (by a RESUME elsewhere) changes nothing.
   */
  detach(session: Session, socket: SessionSocket, resumable: boolean, resumeWindowMs: number, reason: SessionEndReason): void {
    if (session.socket !== socket || !this.sessions.has(session.id)) return
    session.socket = null
    this.onConnection(session, false)
    if (!resumable) {
      this.end(session, reason)
      return
    }
    session.disconnectedAt = simulatorNow()
    session.expiryTimer = setTimeout(() => this.end(session, 'expired'), resumeWindowMs)
    session.expiryTimer.unref()
  }

  /** Ends a session: it can no longer be resumed and receives nothing. */
  end(session: Session, reason: SessionEndReason): void {
    if (!this.sessions.delete(session.id)) return
    if (session.expiryTimer) clearTimeout(session.expiryTimer)
    session.expiryTimer = null
    const wasConnected = session.socket !== null
    session.socket = null
    if (wasConnected) this.onConnection(session, false)
    this.onEnd(session, reason)
  }

  /** Sessions with shard id `shardId` (and total `total`, when given). */
  forShard(shardId: number, total?: number): Session[] {
    return this.all().filter((s) => s.shard[0] === shardId && (total === undefined || s.shard[1] === total))
  }

  /**
   * Discord's routing: a guild event goes to every session whose `(guild_id >> 22) % n === id`, whatever
   * its `n`; an event without a guild goes to sessions with shard id 0.
   */
  route(guildId: string | null): Session[] {
    return this.all().filter((s) => (guildId === null ? s.shard[0] === 0 : shardOfGuild(guildId, s.shard[1]) === s.shard[0]))
  }

  /** Ends every session (teardown). */
  clear(reason: SessionEndReason): void {
    for (const s of this.all()) this.end(s, reason)
  }
}

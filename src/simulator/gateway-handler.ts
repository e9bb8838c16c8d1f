import { randomBytes } from 'node:crypto'
import type { SimulatorEventMap } from './events.js'
import type { CloseInitiator, ConnectionHandler, ConnectionSettings, GatewayConnection } from './gateway-connection.js'
import type { GuildRegistry } from './guilds.js'
import type { IdentifyRules } from './identify-rules.js'
import { checkIdentify, matchToken } from './identify-validation.js'
import { PRIVILEGED_INTENTS, type ResolvedSimulatorOptions } from './options.js'
import { guildCreateData, readyData } from './payloads.js'
import {
  GatewayCloseCode,
  GatewayOp,
  GUILDS_INTENT,
  SESSION_ENDING_SERVER_CLOSES,
  type GatewayPayload,
} from './protocol.js'
import type { Session, SessionSocket, GatewaySessions } from './sessions.js'
import type { StatsCounters } from './stats.js'

/** What the handler needs from the simulator that owns it. */
export interface GatewayHost {
  options(): ResolvedSimulatorOptions
  readonly guilds: GuildRegistry
  readonly rules: IdentifyRules
  readonly sessions: GatewaySessions
  readonly counters: StatsCounters
  readonly zombies: ReadonlySet<number>
  resumeGatewayUrl(): string
  /** Replaces every accepted token (budget exhausted in `terminate` mode). */
  rotateToken(token: string): void
  connectionClosed(conn: GatewayConnection): void
  stopping(): boolean
  emit<K extends keyof SimulatorEventMap>(event: K, ...args: SimulatorEventMap[K]): boolean
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const shardOf = (s: Session | null): [number, number] | null => (s ? [s.shard[0], s.shard[1]] : null)

/** The bot-wide half of the gateway: IDENTIFY rules, sessions, RESUME, and what a close does to a session. */
export class GatewayHandler implements ConnectionHandler {
  constructor(private readonly host: GatewayHost) {}

  settings(): ConnectionSettings {
    const o = this.host.options()
    return { heartbeatIntervalMs: o.heartbeatIntervalMs, heartbeatTimeoutMs: o.heartbeatTimeoutMs, rateLimit: { ...o.rateLimit } }
  }

  shouldAck(conn: GatewayConnection): boolean {
    return !(conn.session && this.host.zombies.has(conn.session.shard[0]))
  }

  identify(conn: GatewayConnection, d: unknown): void {
    const { host } = this
    const o = host.options()
    const check = checkIdentify(d, {
      tokens: o.tokens,
      knownIntents: o.intents.knownMask,
      privilegedIntents: PRIVILEGED_INTENTS,
      approvedPrivileged: o.intents.approvedPrivileged,
      requiredShardMultiple: o.requiredShardMultiple,
      maxGuildsPerShard: o.maxGuildsPerShard,
      guildCount: (shard) => (shard ? host.guilds.forShard(shard[0], shard[1]).length : host.guilds.size),
    })
    if (!check.ok) return conn.close(check.code, check.reason)
    const shard = check.shard ?? [0, 1]
    const record = host.rules.evaluate(shard[0], shard[1])
    host.counters.countIdentify(`${shard[0]}/${shard[1]}`, record.outcome)
    host.emit('identify', { ...record })

    if (record.outcome === 'exhausted') return this.budgetExhausted(conn, o)
    if (record.outcome === 'violation') {
      host.emit('violation', { key: record.key, shard: record.shard, total: record.total, gapMs: record.gapMs as number, at: record.at })
      // The socket stays open and unauthenticated, as on Discord; discord.js closes it (1000) and retries.
      conn.later(o.invalidSessionDelayMs, () => this.invalidSession(conn, false, 'identify-rate-limit'))
      return
    }

    const guilds = check.shard ? host.guilds.forShard(shard[0], shard[1]) : host.guilds.forShard(0, 1)
    const session = host.sessions.create(shard, check.intents, conn, o.replayBufferSize)
    conn.session = session
    session.dispatch(
      'READY',
      readyData(o, {
        sessionId: session.id,
        resumeGatewayUrl: host.resumeGatewayUrl(),
        shard: check.shard,
        guilds,
        version: conn.request.version,
      }),
    )
    if (check.intents & GUILDS_INTENT) for (const g of guilds) session.dispatch('GUILD_CREATE', guildCreateData(g))
    host.emit('session', { sessionId: session.id, shard: [shard[0], shard[1]], guilds: guilds.length })
  }

  resume(conn: GatewayConnection, d: unknown): void {
    const { host } = this
    if (!isObject(d) || typeof d.session_id !== 'string') {
      return conn.close(GatewayCloseCode.UnknownOpcode, 'RESUME needs token, session_id and seq')
    }
    if (matchToken(host.options().tokens, d.token) === null) {
      return conn.close(GatewayCloseCode.AuthenticationFailed, 'Authentication failed.')
    }
    const seq = d.seq === null || d.seq === undefined ? 0 : d.seq
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) {
      return conn.close(GatewayCloseCode.UnknownOpcode, 'RESUME seq must be a non-negative integer or null')
    }
    const session = host.sessions.get(d.session_id)
    if (!session) return this.invalidSession(conn, false, 'unknown-session')
    if (seq > session.seq) return conn.close(GatewayCloseCode.InvalidSeq, 'Invalid seq.')
    const replay = session.replayAfter(seq)
    if (replay === null) {
      host.sessions.end(session, 'invalidated')
      return this.invalidSession(conn, false, 'replay-unavailable')
    }
    const previous = host.sessions.attach(session, conn)
    conn.session = session
    // A session has one socket: the one the client abandoned is closed with a resumable code.
    previous?.close(GatewayCloseCode.UnknownError, 'Session resumed on another connection.')
    for (const p of replay) conn.send(p)
    session.dispatch('RESUMED', null)
    host.counters.resumes++
    host.counters.countResume(session.shardKey, previous !== null)
    if (conn.request.viaResumeUrl) host.counters.resumesViaResumeUrl++
    host.emit('resume', {
      sessionId: session.id,
      shard: [session.shard[0], session.shard[1]],
      replayed: replay.length,
      viaResumeUrl: conn.request.viaResumeUrl,
      tookOver: previous !== null,
    })
  }

  command(conn: GatewayConnection, payload: GatewayPayload): void {
    // Request Guild Members gets one empty chunk per owned guild so `guild.members.fetch()` settles.
    if (payload.op !== GatewayOp.RequestGuildMembers || !isObject(payload.d) || !conn.session) return
    const session = conn.session
    const d = payload.d
    const ids = Array.isArray(d.guild_id) ? d.guild_id : [d.guild_id]
    for (const guildId of ids) {
      if (typeof guildId !== 'string' || !this.host.guilds.get(guildId)) continue
      session.dispatch('GUILD_MEMBERS_CHUNK', {
        guild_id: guildId,
        members: [],
        chunk_index: 0,
        chunk_count: 1,
        not_found: Array.isArray(d.user_ids) ? d.user_ids : [],
        ...(typeof d.nonce === 'string' ? { nonce: d.nonce } : {}),
      })
    }
  }

  rateLimited(conn: GatewayConnection): void {
    this.host.counters.rateLimited++
    this.host.emit('rateLimited', { connectionId: conn.id, shard: shardOf(conn.session) })
  }

  closing(_conn: GatewayConnection, code: number): void {
    // Counted when decided, so stats are right as soon as the client sees the close frame.
    this.host.counters.countClose(code)
  }

  closed(conn: GatewayConnection, code: number, initiator: CloseInitiator): void {
    const { host } = this
    host.connectionClosed(conn)
    if (initiator === 'client') host.counters.countClose(code)
    const session = conn.session
    if (session && !host.stopping()) {
      // Discord: a client close with 1000/1001 ends the session; any other close (or a drop) keeps it resumable.
      const resumable =
        initiator === 'client' ? code !== 1000 && code !== 1001 : !SESSION_ENDING_SERVER_CLOSES.has(code)
      const reason = initiator === 'client' ? 'client-close' : 'server-close'
      host.sessions.detach(session, conn, resumable, host.options().resumeWindowMs, reason)
    }
    host.emit('close', { connectionId: conn.id, shard: shardOf(session), sessionId: session?.id ?? null, code, initiator })
  }

  /** Sends op 9 and counts it. */
  invalidSession(conn: SessionSocket & { id: number; session: Session | null }, resumable: boolean, reason: InvalidReason): void {
    conn.sendOp(GatewayOp.InvalidSession, resumable)
    this.host.counters.invalidSessions++
    this.host.emit('invalidSession', { connectionId: conn.id, shard: shardOf(conn.session), resumable, reason })
  }

  private budgetExhausted(conn: GatewayConnection, o: ResolvedSimulatorOptions): void {
    const { host } = this
    host.counters.budgetExhausted++
    if (o.budgetExhaustedMode === 'invalid-session') {
      conn.later(o.invalidSessionDelayMs, () => this.invalidSession(conn, false, 'budget-exhausted'))
      host.emit('budgetExhausted', { mode: 'invalid-session', newToken: null })
      return
    }
    // Discord's documented outcome: every session is terminated and the token is reset.
    const newToken = `sim-rotated-${randomBytes(12).toString('hex')}`
    host.rotateToken(newToken)
    for (const s of host.sessions.all()) {
      s.socket?.close(GatewayCloseCode.AuthenticationFailed, 'Authentication failed.')
      host.sessions.end(s, 'terminated')
    }
    conn.close(GatewayCloseCode.AuthenticationFailed, 'Authentication failed.')
    host.emit('budgetExhausted', { mode: 'terminate', newToken })
  }
}

type InvalidReason = 'identify-rate-limit' | 'budget-exhausted' | 'unknown-session' | 'replay-unavailable' | 'admin'

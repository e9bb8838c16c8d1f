import { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { OptionsError } from '../errors.js'
import { handleAdmin, type AdminApi } from './admin-http.js'
import type {
  ScaleOptions,
  ScaleResult,
  ShardingRequiredClose,
  ShardSelector,
  SimulatorAddress,
  SimulatorStartOptions,
} from './admin-types.js'
import { BudgetResetTimer } from './budget-timer.js'
import { simulatorNow } from './clock.js'
import type { SimulatorEventMap } from './events.js'
import { FaultInjector } from './faults.js'
import type { GatewayConnection } from './gateway-connection.js'
import { GatewayHandler, type GatewayHost } from './gateway-handler.js'
import { GuildRegistry } from './guilds.js'
import { isLoopback, sendJson } from './http-util.js'
import { IdentifyRules } from './identify-rules.js'
import {
  mergeOptions,
  resolveOptions,
  type ResolvedSimulatorOptions,
  type SessionStartLimitOptions,
  type SimulatorOptions,
} from './options.js'
import { guildCreateData } from './payloads.js'
import { GatewayCloseCode, GUILDS_INTENT } from './protocol.js'
import { handleRest, restRoute } from './rest.js'
import { SimulatorServer } from './server.js'
import { GatewaySessions } from './sessions.js'
import { ShardOccupancy } from './shard-occupancy.js'
import { recommendShardCount } from './sharding.js'
import { shardOfGuild } from './snowflake.js'
import { buildStats, StatsCounters, type SessionStartLimit, type SimulatorStats } from './stats.js'

const SCALE_KEYS = new Set(['guilds', 'recommendedShards'])

/**
 * A local Discord gateway (REST `/gateway/bot` + WebSocket on one port) that enforces Discord's sharding
 * rules — identify windows per key, the daily budget, 4004/4010/4011/4013/4014/4008, heartbeats, RESUME
 * with replay — and records what clients did so tests can assert "0 violations" and "one session per shard".
 * Admin methods inject faults, grow the bot and change the budget; the same API is served over HTTP at `/__sim/*`.
 */
export class GatewaySimulator extends EventEmitter<SimulatorEventMap> implements AdminApi {
  private raw: SimulatorOptions
  private opts: ResolvedSimulatorOptions
  private readonly guildRegistry: GuildRegistry
  private readonly identifyRules: IdentifyRules
  private readonly sessionStore: GatewaySessions
  private readonly occupancy: ShardOccupancy
  private readonly counters = new StatsCounters()
  private readonly zombieShards = new Set<number>()
  private readonly handler: GatewayHandler
  private readonly faults: FaultInjector
  private readonly server: SimulatorServer
  private lastRecommendation: number
  /** While > 0, configure() is applying several changes; the recommendation is checked once at the end. */
  private batchDepth = 0
  private readonly budgetTimer: BudgetResetTimer

  constructor(options: SimulatorOptions = {}) {
    super()
    this.opts = resolveOptions(options)
    // `remaining` is live state owned by the identify rules, not configuration to re-apply on configure().
    this.raw = { ...options }
    if (options.sessionStartLimit) this.raw.sessionStartLimit = { ...options.sessionStartLimit, remaining: undefined }
    const o = this.opts
    this.guildRegistry = new GuildRegistry(o.user.id)
    this.guildRegistry.add(o.guilds)
    this.identifyRules = new IdentifyRules(
      { maxConcurrency: o.maxConcurrency, windowMs: o.windowMs, toleranceMs: o.toleranceMs },
      { ...o.sessionStartLimit },
    )
    this.occupancy = new ShardOccupancy(simulatorNow, (join) => {
      const [id, total] = join.shard.split('/').map(Number) as [number, number]
      this.emit('duplicateSession', { shard: [id, total], sessionId: join.sessionId, sessions: join.sessions, at: join.at })
    })
    this.sessionStore = new GatewaySessions(
      (s, reason) => this.emit('sessionEnd', { sessionId: s.id, shard: [s.shard[0], s.shard[1]], reason }),
      (s, connected) => (connected ? this.occupancy.connect(s.shardKey, s.id) : this.occupancy.disconnect(s.shardKey, s.id)),
    )
    this.lastRecommendation = this.recommendedShards()
    this.budgetTimer = new BudgetResetTimer(this.identifyRules, () => {
      const rules = this.identifyRules
      this.emit('budgetReset', { remaining: rules.remaining, total: rules.total, resetAfterMs: rules.resetAfterMs })
    })
    const self = this
    const host: GatewayHost = {
      options: () => self.opts,
      guilds: this.guildRegistry,
      rules: this.identifyRules,
      sessions: this.sessionStore,
      counters: this.counters,
      zombies: this.zombieShards,
      resumeGatewayUrl: () => `${self.urls().gatewayUrl}/resume`,
      rotateToken: (token) => {
        self.raw = { ...self.raw, token, tokens: undefined }
        self.opts = { ...self.opts, tokens: [token] }
      },
      connectionClosed: (conn) => self.server.removed(conn),
      stopping: () => self.server.stopping,
      emit: (event, ...args) => (self.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
    }
    this.handler = new GatewayHandler(host)
    this.faults = new FaultInjector(this.sessionStore, this.handler, this.zombieShards, () => this.opts)
    this.server = new SimulatorServer(this.handler, {
      http: (req, res, url) => this.onRequest(req, res, url),
      connection: (conn, path) => this.onConnection(conn, path),
    })
  }

  /** Binds the HTTP + WebSocket server. Resolves with the URLs to give clients. */
  async start(options: SimulatorStartOptions = {}): Promise<SimulatorAddress> {
    await this.server.listen(options.host ?? '127.0.0.1', options.port ?? 0)
    this.budgetTimer.start()
    return this.urls()
  }

  /** Closes every socket (1001), ends every session and closes the server. Safe to call twice. */
  async stop(): Promise<void> {
    this.budgetTimer.stop()
    await this.server.close(() => this.sessionStore.clear('stopped'))
  }

  /** URLs clients should use; honours `publicUrl`. Throws before `start()` unless `publicUrl` is set. */
  urls(): SimulatorAddress {
    const pub = this.opts.publicUrl
    const bound = this.server.address
    if (pub) {
      const http = pub.replace(/^ws(s?):/, 'http$1:')
      return { port: bound?.port ?? 0, restUrl: `${http}/api`, gatewayUrl: http.replace(/^http(s?):/, 'ws$1:') }
    }
    if (!bound) throw new Error('GatewaySimulator is not started')
    return { port: bound.port, restUrl: `http://${bound.urlHost}:${bound.port}/api`, gatewayUrl: `ws://${bound.urlHost}:${bound.port}` }
  }

  /** Snapshot of everything recorded; see {@link SimulatorStats}. */
  stats(): SimulatorStats {
    return buildStats({
      rules: this.identifyRules,
      sessions: this.sessionStore,
      occupancy: this.occupancy,
      guilds: this.guildRegistry,
      counters: this.counters,
      sessionStartLimit: this.sessionStartLimit(),
      openConnections: this.server.connections.size,
    })
  }

  /**
   * Clears recorded history and counters. Windows, budget, sessions and guilds keep their state; an
   * overlap still going on stays listed, and each shard's `maxByShard` restarts at its current count.
   */
  resetStats(): void {
    this.identifyRules.resetStats()
    this.occupancy.reset()
    this.counters.reset(this.identifyRules.resets)
  }

  /** Current effective configuration (JSON-safe), with live values (`remaining`, guild count, recommended shards). */
  config(): Record<string, unknown> {
    let urls: SimulatorAddress | null = null
    try {
      urls = this.urls()
    } catch {
      urls = null
    }
    return {
      ...this.opts,
      guilds: this.guildRegistry.size,
      recommendedShards: this.recommendedShards(),
      sessionStartLimit: { ...this.opts.sessionStartLimit, remaining: this.identifyRules.remaining },
      urls,
    }
  }

  /**
   * Changes options at run time (validated as a whole first; nothing changes on error). Window, budget
   * and limits apply to the next IDENTIFY; heartbeat and rate-limit settings to the next connection.
   * `guilds: n` adds or removes guilds (with GUILD_CREATE / GUILD_DELETE) until there are `n`.
   */
  configure(patch: SimulatorOptions): Record<string, unknown> {
    const merged = mergeOptions(this.raw, patch)
    const next = resolveOptions(merged)
    this.raw = merged
    if (merged.sessionStartLimit) merged.sessionStartLimit = { ...merged.sessionStartLimit, remaining: undefined }
    this.opts = next
    this.identifyRules.configure({ maxConcurrency: next.maxConcurrency, windowMs: next.windowMs, toleranceMs: next.toleranceMs })
    if (patch.sessionStartLimit) {
      this.identifyRules.setBudget(patch.sessionStartLimit)
      if (this.budgetTimer.running) this.budgetTimer.start()
    }
    this.batchDepth++
    try {
      if (patch.guilds !== undefined) this.applyGuilds(next.guilds)
    } finally {
      this.batchDepth--
    }
    this.noteRecommendation()
    return this.config()
  }

  /**
   * Grows or shrinks the bot while it runs. Sessions owning added guilds get GUILD_CREATE, owners of
   * removed ones GUILD_DELETE; `/gateway/bot` answers the new `shards` at once and `recommendedShards`
   * is emitted when it changed. Running sessions keep their shard count: Discord only enforces
   * `maxGuildsPerShard` at IDENTIFY (see {@link enforceShardingRequired}).
   */
  scale(patch: ScaleOptions): ScaleResult {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new OptionsError('scale', 'must be an object like { guilds: 5000 }')
    for (const key of Object.keys(patch)) {
      if (!SCALE_KEYS.has(key)) throw new OptionsError(key, `unknown scale option (known: ${[...SCALE_KEYS].join(', ')})`)
    }
    const before = this.guildRegistry.size
    const previous = this.recommendedShards()
    const change: SimulatorOptions = {}
    if (patch.guilds !== undefined) {
      if (!Number.isInteger(patch.guilds)) throw new OptionsError('guilds', `must be an integer guild count, got ${JSON.stringify(patch.guilds)}`)
      change.guilds = patch.guilds
    }
    if (patch.recommendedShards !== undefined) change.recommendedShards = patch.recommendedShards
    this.configure(change)
    const guilds = this.guildRegistry.size
    return {
      guilds,
      added: Math.max(0, guilds - before),
      removed: Math.max(0, before - guilds),
      recommendedShards: this.recommendedShards(),
      previousRecommendedShards: previous,
    }
  }

  /** `shards` that `/gateway/bot` answers now (see `recommendedShards`, `guildsPerShardRecommended`). */
  recommendedShards(): number {
    const o = this.opts
    return recommendShardCount({
      guilds: this.guildRegistry.size,
      pinned: o.recommendedShards,
      guildsPerShardRecommended: o.guildsPerShardRecommended,
      maxGuildsPerShard: o.maxGuildsPerShard,
      requiredShardMultiple: o.requiredShardMultiple,
    })
  }

  /**
   * Applies 4011 to sessions already running: every session whose shard now holds more than
   * `maxGuildsPerShard` guilds is closed with 4011 (which ends it), or ended when it is detached, so a
   * RESUME gets op 9 and the re-IDENTIFY gets 4011. Returns what it did.
   */
  enforceShardingRequired(): ShardingRequiredClose[] {
    const max = this.opts.maxGuildsPerShard
    const counts = new Map<string, number>()
    const out: ShardingRequiredClose[] = []
    for (const s of this.sessionStore.all()) {
      let guilds = counts.get(s.shardKey)
      if (guilds === undefined) counts.set(s.shardKey, (guilds = this.guildRegistry.forShard(s.shard[0], s.shard[1]).length))
      if (guilds <= max) continue
      out.push({ sessionId: s.id, shard: [s.shard[0], s.shard[1]], guilds, connected: s.connected })
      if (s.socket) s.socket.close(GatewayCloseCode.ShardingRequired, 'Sharding required.')
      else this.sessionStore.end(s, 'invalidated')
    }
    return out
  }

  /** `session_start_limit` exactly as `/gateway/bot` answers it now. */
  sessionStartLimit(): SessionStartLimit {
    const rules = this.identifyRules
    return { total: rules.total, remaining: rules.remaining, reset_after: rules.resetAfterMs, max_concurrency: rules.maxConcurrency }
  }

  /**
   * Changes the daily budget at run time: `remaining` (e.g. 0 to test a refusal), `total`, or
   * `resetAfterMs` (starts a new period now). Validated like the constructor's `sessionStartLimit`.
   */
  setSessionStartLimit(patch: SessionStartLimitOptions): SessionStartLimit {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      throw new OptionsError('sessionStartLimit', 'must be an object like { remaining: 10 }')
    }
    this.configure({ sessionStartLimit: patch })
    return this.sessionStartLimit()
  }

  /** Ids of all guilds, in the order they were added. */
  guildIds(): string[] {
    return this.guildRegistry.ids()
  }

  /** Adds generated guilds (a count) or the given ids; live sessions owning them get GUILD_CREATE. Returns the new ids. */
  addGuilds(countOrIds: number | string[]): string[] {
    const added = this.guildRegistry.add(countOrIds)
    for (const g of added) {
      for (const s of this.sessionStore.route(g.id)) {
        if (s.intents & GUILDS_INTENT) s.dispatch('GUILD_CREATE', guildCreateData(g))
      }
    }
    this.noteRecommendation()
    return added.map((g) => g.id)
  }

  /** Removes a guild (the bot left it); owning sessions get GUILD_DELETE. False if unknown. */
  removeGuild(id: string): boolean {
    if (!this.guildRegistry.remove(id)) return false
    this.announceGuildDelete(id)
    this.noteRecommendation()
    return true
  }

  /** Discord's routing rule, `(guild_id >> 22) % total`. */
  shardOfGuild(id: string, total: number): number {
    return shardOfGuild(id, total)
  }

  /**
   * Injects a dispatch routed like Discord: with a guild (`opts.guildId`, else `data.guild_id`) to every live
   * session owning it, for any shard count; without one to shard-0 sessions. Detached sessions buffer it
   * for RESUME. Returns how many sessions got it.
   */
  dispatch(event: string, data: unknown, opts: { guildId?: string | null } = {}): number {
    if (typeof event !== 'string' || event === '') throw new OptionsError('event', 'must be a non-empty string')
    const fromData = typeof data === 'object' && data !== null ? (data as Record<string, unknown>).guild_id : undefined
    const guildId = opts.guildId ?? (typeof fromData === 'string' ? fromData : null)
    const targets = this.sessionStore.route(guildId)
    for (const s of targets) s.dispatch(event, data)
    return targets.length
  }

  /** Server-closes the sockets of a shard's sessions with `code` (default 4000). Returns how many. */
  closeShard(shardId: number, code: number = GatewayCloseCode.UnknownError, opts: ShardSelector & { reason?: string } = {}): number {
    return this.faults.closeShard(shardId, code, opts)
  }

  /** Sends op 7 to a shard's sessions, then force-closes with 4000 after `closeAfterMs` (default `reconnectCloseDelayMs`). */
  reconnect(shardId: number, opts: ShardSelector & { closeAfterMs?: number } = {}): number {
    return this.faults.reconnect(shardId, opts)
  }

  /**
   * Sends op 9 to a shard's sessions. `resumable` true keeps the session (the client may RESUME, even on
   * the same socket); false ends it. Either way the socket is unauthenticated afterwards.
   */
  invalidateSession(shardId: number, resumable: boolean, opts: ShardSelector = {}): number {
    return this.faults.invalidateSession(shardId, resumable, opts)
  }

  /** Sends op 1 (the client must heartbeat at once) to a shard's sessions. */
  requestHeartbeat(shardId: number, opts: ShardSelector = {}): number {
    return this.faults.requestHeartbeat(shardId, opts)
  }

  /** While on, heartbeats from this shard's sessions get no ACK (a "zombie" connection). */
  zombie(shardId: number, on: boolean): boolean {
    return this.faults.zombie(shardId, on)
  }

  /** Tokens accepted right now (changes after a `terminate` budget exhaustion). */
  get tokens(): string[] {
    return [...this.opts.tokens]
  }

  private announceGuildDelete(id: string): void {
    for (const s of this.sessionStore.route(id)) if (s.intents & GUILDS_INTENT) s.dispatch('GUILD_DELETE', { id })
  }

  private applyGuilds(guilds: number | string[]): void {
    if (typeof guilds === 'number') {
      const diff = guilds - this.guildRegistry.size
      if (diff > 0) this.addGuilds(diff)
      else for (const g of this.guildRegistry.truncate(guilds)) this.announceGuildDelete(g.id)
      return
    }
    const wanted = new Set(guilds)
    for (const id of this.guildRegistry.ids()) if (!wanted.has(id)) this.removeGuild(id)
    this.addGuilds(guilds)
  }

  private noteRecommendation(): void {
    if (this.batchDepth > 0) return
    const shards = this.recommendedShards()
    const previous = this.lastRecommendation
    if (shards === previous) return
    this.lastRecommendation = shards
    this.emit('recommendedShards', { shards, previous, guilds: this.guildRegistry.size })
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const path = url.pathname
    if (path === '/__sim' || path.startsWith('/__sim/')) {
      const access = this.opts.adminHttp
      if (access === 'off' || (access === 'loopback' && !isLoopback(req.socket.remoteAddress))) {
        return sendJson(res, 403, { error: 'the simulator admin API is not available from this address' })
      }
      void handleAdmin(req, res, url, this)
      return
    }
    if (path === '/api' || path.startsWith('/api/')) {
      const o = this.opts
      const route = restRoute(path)
      if (route) this.counters.countRest(route.route)
      return handleRest(req, res, path, {
        tokens: o.tokens,
        gatewayUrl: this.urls().gatewayUrl,
        recommendedShards: this.recommendedShards(),
        sessionStartLimit: this.sessionStartLimit(),
        user: { ...o.user, bot: true },
        applicationId: o.applicationId,
      })
    }
    if (path === '/' && req.method === 'GET') return sendJson(res, 200, { simulator: 'discordoo-sharding', ...this.urls() })
    sendJson(res, 404, { message: '404: Not Found', code: 0 })
  }

  private onConnection(conn: GatewayConnection, path: string): void {
    this.emit('connection', { connectionId: conn.id, path, version: conn.request.version, compress: conn.request.compress })
  }
}

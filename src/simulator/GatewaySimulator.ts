import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { OptionsError } from '../errors.js'
import { handleAdmin, type AdminApi } from './admin-http.js'
import type { SimulatorEventMap } from './events.js'
import { GatewayConnection } from './gateway-connection.js'
import { GatewayHandler, type GatewayHost } from './gateway-handler.js'
import { GuildRegistry } from './guilds.js'
import { isLoopback, sendJson } from './http-util.js'
import { IdentifyRules } from './identify-rules.js'
import { mergeOptions, resolveOptions, type ResolvedSimulatorOptions, type SimulatorOptions } from './options.js'
import { guildCreateData } from './payloads.js'
import { GatewayCloseCode, GatewayOp, GUILDS_INTENT } from './protocol.js'
import { handleRest } from './rest.js'
import { SessionStore, type Session } from './sessions.js'
import { shardOfGuild } from './snowflake.js'
import { buildStats, StatsCounters, type SimulatorStats } from './stats.js'

export interface SimulatorStartOptions {
  /** 0 (default) picks a free port. */
  port?: number
  /** Default `'127.0.0.1'`. Bind `'0.0.0.0'` and set `publicUrl` for other machines. */
  host?: string
}

export interface SimulatorAddress {
  /** Pass as discord.js `rest.api`, e.g. `http://127.0.0.1:8787/api`. */
  restUrl: string
  /** Advertised in `/gateway/bot`, e.g. `ws://127.0.0.1:8787` (no query string). */
  gatewayUrl: string
  port: number
}

/** Selects sessions by shard id, and optionally by shard count. */
export interface ShardSelector {
  total?: number
}

/**
 * A local Discord gateway (REST `/gateway/bot` + WebSocket on one port) that enforces Discord's sharding
 * rules — identify windows per key, the daily budget, 4004/4010/4011/4013/4014/4008, heartbeats, RESUME
 * with replay — and records what clients did so tests can assert "0 violations" and "one session per shard".
 * Admin methods inject faults and events; the same API is served over HTTP at `/__sim/*`.
 */
export class GatewaySimulator extends EventEmitter<SimulatorEventMap> implements AdminApi {
  private raw: SimulatorOptions
  private opts: ResolvedSimulatorOptions
  private readonly guildRegistry: GuildRegistry
  private readonly identifyRules: IdentifyRules
  private readonly sessionStore: SessionStore
  private readonly counters = new StatsCounters()
  private readonly zombieShards = new Set<number>()
  private readonly connections = new Set<GatewayConnection>()
  private readonly handler: GatewayHandler
  private server: Server | null = null
  private wss: WebSocketServer | null = null
  private address: SimulatorAddress | null = null
  private isStopping = false

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
    this.sessionStore = new SessionStore((s, reason) => this.emit('sessionEnd', { sessionId: s.id, shard: [s.shard[0], s.shard[1]], reason }))
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
      connectionClosed: (conn) => self.connections.delete(conn),
      stopping: () => self.isStopping,
      emit: (event, ...args) => (self.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
    }
    this.handler = new GatewayHandler(host)
  }

  /** Binds the HTTP + WebSocket server. Resolves with the URLs to give clients. */
  async start(options: SimulatorStartOptions = {}): Promise<SimulatorAddress> {
    if (this.server) throw new Error('GatewaySimulator is already started')
    const host = options.host ?? '127.0.0.1'
    const port = options.port ?? 0
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new OptionsError('port', `must be an integer from 0 to 65535, got ${port}`)
    if (typeof host !== 'string' || host === '') throw new OptionsError('host', 'must be a non-empty string')
    const server = createServer((req, res) => this.onRequest(req, res))
    // Discord's own limit is enforced as a 4002 close; this only stops absurd frames before buffering.
    const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20, perMessageDeflate: false })
    server.on('upgrade', (req, socket, head) => this.onUpgrade(wss, req, socket as Socket, head))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    this.wss = wss
    this.isStopping = false
    const bound = (server.address() as AddressInfo).port
    const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host
    this.address = { port: bound, restUrl: `http://${urlHost}:${bound}/api`, gatewayUrl: `ws://${urlHost}:${bound}` }
    return this.urls()
  }

  /** Closes every socket (1001), ends every session and closes the server. Safe to call twice. */
  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.isStopping = true
    const closing = [...this.connections].map(
      (conn) =>
        new Promise<void>((resolve) => {
          const onClose = (e: { connectionId: number }): void => {
            if (e.connectionId !== conn.id) return
            this.off('close', onClose)
            resolve()
          }
          this.on('close', onClose)
          conn.close(GatewayCloseCode.GoingAway, 'Simulator stopping.')
        }),
    )
    const grace = new Promise<void>((resolve) => setTimeout(resolve, 500).unref())
    await Promise.race([Promise.all(closing), grace])
    for (const conn of this.connections) conn.terminate()
    this.sessionStore.clear('stopped')
    this.wss?.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    this.server = null
    this.wss = null
    this.address = null
  }

  /** URLs clients should use; honours `publicUrl`. Throws before `start()` unless `publicUrl` is set. */
  urls(): SimulatorAddress {
    const pub = this.opts.publicUrl
    if (pub) {
      const http = pub.replace(/^ws(s?):/, 'http$1:')
      return { port: this.address?.port ?? 0, restUrl: `${http}/api`, gatewayUrl: http.replace(/^http(s?):/, 'ws$1:') }
    }
    if (!this.address) throw new Error('GatewaySimulator is not started')
    return { ...this.address }
  }

  /** Snapshot of everything recorded; see {@link SimulatorStats}. */
  stats(): SimulatorStats {
    return buildStats(this.identifyRules, this.sessionStore, this.counters, this.connections.size)
  }

  /** Clears recorded history and counters. Windows, budget, sessions and guilds keep their state. */
  resetStats(): void {
    this.identifyRules.resetStats()
    this.counters.reset()
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
    if (patch.sessionStartLimit) this.identifyRules.setBudget(patch.sessionStartLimit)
    if (patch.guilds !== undefined) {
      if (typeof next.guilds === 'number') {
        const diff = next.guilds - this.guildRegistry.size
        if (diff > 0) this.addGuilds(diff)
        else for (const g of this.guildRegistry.truncate(next.guilds)) this.announceGuildDelete(g.id)
      } else {
        const wanted = new Set(next.guilds)
        for (const id of this.guildRegistry.ids()) if (!wanted.has(id)) this.removeGuild(id)
        this.addGuilds(next.guilds)
      }
    }
    return this.config()
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
    return added.map((g) => g.id)
  }

  /** Removes a guild (the bot left it); owning sessions get GUILD_DELETE. False if unknown. */
  removeGuild(id: string): boolean {
    if (!this.guildRegistry.remove(id)) return false
    this.announceGuildDelete(id)
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
    if (!Number.isInteger(code) || code < 1000 || code > 4999) throw new OptionsError('code', `must be a close code from 1000 to 4999, got ${code}`)
    const targets = this.connected(shardId, opts)
    for (const s of targets) s.socket?.close(code, opts.reason ?? 'Closed by simulator.')
    return targets.length
  }

  /** Sends op 7 to a shard's sessions, then force-closes with 4000 after `closeAfterMs` (default `reconnectCloseDelayMs`). */
  reconnect(shardId: number, opts: ShardSelector & { closeAfterMs?: number } = {}): number {
    const delay = opts.closeAfterMs ?? this.opts.reconnectCloseDelayMs
    const targets = this.connected(shardId, opts)
    for (const s of targets) {
      const socket = s.socket
      if (!socket) continue
      socket.sendOp(GatewayOp.Reconnect, null)
      socket.later(delay, () => socket.close(GatewayCloseCode.UnknownError, 'Reconnect requested.'))
    }
    return targets.length
  }

  /**
   * Sends op 9 to a shard's sessions. `resumable` true keeps the session (the client may RESUME, even on
   * the same socket); false ends it. Either way the socket is unauthenticated afterwards.
   */
  invalidateSession(shardId: number, resumable: boolean, opts: ShardSelector = {}): number {
    const targets = this.connected(shardId, opts)
    for (const s of targets) {
      const socket = s.socket as GatewayConnection
      this.handler.invalidSession(socket, resumable, 'admin')
      socket.deauthenticate()
      if (resumable) this.sessionStore.detach(s, socket, true, this.opts.resumeWindowMs, 'invalidated')
      else this.sessionStore.end(s, 'invalidated')
    }
    return targets.length
  }

  /** Sends op 1 (the client must heartbeat at once) to a shard's sessions. */
  requestHeartbeat(shardId: number, opts: ShardSelector = {}): number {
    const targets = this.connected(shardId, opts)
    for (const s of targets) s.socket?.sendOp(GatewayOp.Heartbeat, null)
    return targets.length
  }

  /** While on, heartbeats from this shard's sessions get no ACK (a "zombie" connection). */
  zombie(shardId: number, on: boolean): boolean {
    if (on) this.zombieShards.add(shardId)
    else this.zombieShards.delete(shardId)
    return on
  }

  /** Tokens accepted right now (changes after a `terminate` budget exhaustion). */
  get tokens(): string[] {
    return [...this.opts.tokens]
  }

  private recommendedShards(): number {
    const o = this.opts
    const base = o.recommendedShards ?? Math.max(1, Math.ceil(this.guildRegistry.size / o.guildsPerShardRecommended))
    return Math.ceil(base / o.requiredShardMultiple) * o.requiredShardMultiple
  }

  private connected(shardId: number, opts: ShardSelector): Session[] {
    if (!Number.isInteger(shardId) || shardId < 0) throw new OptionsError('shardId', `must be a non-negative integer, got ${shardId}`)
    return this.sessionStore.forShard(shardId, opts.total).filter((s) => s.connected)
  }

  private announceGuildDelete(id: string): void {
    for (const s of this.sessionStore.route(id)) if (s.intents & GUILDS_INTENT) s.dispatch('GUILD_DELETE', { id })
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid')
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
      return handleRest(req, res, path, {
        tokens: o.tokens,
        gatewayUrl: this.urls().gatewayUrl,
        recommendedShards: this.recommendedShards(),
        sessionStartLimit: {
          total: this.identifyRules.total,
          remaining: this.identifyRules.remaining,
          reset_after: this.identifyRules.resetAfterMs,
          max_concurrency: o.maxConcurrency,
        },
        user: { ...o.user, bot: true },
        applicationId: o.applicationId,
      })
    }
    if (path === '/' && req.method === 'GET') return sendJson(res, 200, { simulator: 'discordoo-sharding', ...this.urls() })
    sendJson(res, 404, { message: '404: Not Found', code: 0 })
  }

  private onUpgrade(wss: WebSocketServer, req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid')
    const encoding = url.searchParams.get('encoding') ?? 'json'
    const compress = url.searchParams.get('compress')
    const reject = (message: string): void => {
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`)
    }
    if (this.isStopping) return reject('simulator is stopping')
    if (encoding !== 'json') return reject(`unsupported encoding '${encoding}': the simulator speaks json only`)
    if (compress !== null && compress !== 'zlib-stream') return reject(`unsupported compress '${compress}': only zlib-stream`)
    const rawVersion = url.searchParams.get('v')
    const version = rawVersion === null ? 10 : Number(rawVersion)
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const conn = new GatewayConnection(ws, { version, compress: compress !== null, viaResumeUrl: url.pathname.endsWith('/resume') }, this.handler)
      this.connections.add(conn)
      this.emit('connection', { connectionId: conn.id, path: url.pathname, version, compress: compress !== null })
      conn.start()
    })
  }
}

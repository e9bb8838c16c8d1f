/**
 * What connects a discord.js v14 Client to the manager, shared by `sharding.attach(client)` (bots
 * that opt in) and the runtime's adapter (unmodified bots). Before login it makes the client:
 * - take identify turns from the manager's identify authority (ws.buildIdentifyThrottler),
 * - take /gateway/bot from the manager's answer instead of asking Discord again (client.rest.get, once),
 * - report its sessions to the manager and, when asked to, RESUME the ones a previous instance left
 *   (the @discordjs/ws retrieveSessionInfo / updateSessionInfo hooks),
 * - report shard ready / resume / reconnect / disconnect by shard id, and stop for good on fatal closes,
 * - show shard state, ping and guild counts in manager.status().
 * Nothing here imports discord.js: it works on the client object the bot built. The internals it
 * touches are listed and checked in discordjs-internals.ts.
 */
import { FATAL_CLOSE_CODES } from '../constants.js'
import type { GatewayHandOver, SessionInfo } from './context.js'
import type { RuntimeHooks, ShardStatus } from './instance-runtime.js'
import { CLIENT_EVENTS, STATUS_NAMES, resumeProblems, wsManagerProblems } from './discordjs-internals.js'

export interface DiscordJsHookOptions {
  /** Route IDENTIFYs through the manager's identify authority (default true). */
  identify?: boolean
  /** Report sessions to the manager's session store (default true). */
  sessions?: boolean
  /** RESUME the sessions a previous instance left (default false; see README "discord.js bots"). */
  resume?: boolean
  /** Told about internals found missing after login started (the hook they serve is skipped). */
  onProblem?: (message: string) => void
  /** The manager's /gateway/bot answer, used for the client's first ask of it (InstanceContext.gateway). */
  gateway?: GatewayHandOver
}

/** The manager-facing side the hooks report to: ShardingClient, or the runtime's adapter port. */
export interface DiscordJsPort {
  readonly shards: readonly number[]
  readonly sessions: Readonly<Record<number, SessionInfo>>
  reportShard(shardId: number, state: 'ready' | 'disconnected' | 'reconnecting' | 'resumed', code?: number): void
  fatal(reason: string): void
  reportSession(shardId: number, session: SessionInfo | null): void
  identifyThrottler(): { waitForIdentify(shardId: number, signal?: AbortSignal): Promise<void> }
  /** The shard's IDENTIFY has been sent (the key's next turn may come sooner). */
  identifySent(shardId: number): void
  setStatusProvider(provider: () => ShardStatus[]): void
}

interface WsOptions {
  retrieveSessionInfo(shardId: number): SessionInfo | null | Promise<SessionInfo | null>
  updateSessionInfo(shardId: number, info: SessionInfo | null): unknown
}

interface RestLike {
  get(route: string, ...more: unknown[]): Promise<unknown>
  options?: { api?: unknown }
}

interface DiscordJsClientLike {
  options: { ws?: Record<string, unknown> }
  rest?: RestLike
  ws: { connect(): Promise<void>; _ws?: { options: WsOptions } | null; shards: Map<number, { ping: number; status: number }> }
  guilds?: { cache: { values(): Iterable<{ shardId: number }> } }
  on(event: string, fn: (...args: any[]) => void): unknown
  destroy(): Promise<void> | void
}

/** Set on a client once hooked, so attach() and the runtime's adapter never hook one twice. */
const HOOKED = Symbol.for('discordoo-sharding.discordjs-hooked')

export function isDiscordJsClient(value: unknown): value is DiscordJsClientLike {
  const c = value as DiscordJsClientLike
  return typeof c === 'object' && c !== null && typeof c.on === 'function' && typeof c.ws?.connect === 'function' && typeof c.options === 'object'
}

export function isHooked(client: unknown): boolean {
  return typeof client === 'object' && client !== null && (client as Record<symbol, unknown>)[HOOKED] === true
}

/** Hooks a discord.js client (before login). Returns false when it is not one or was hooked already. */
export function hookDiscordJs(port: DiscordJsPort, hooks: RuntimeHooks, client: unknown, options: DiscordJsHookOptions = {}): boolean {
  if (!isDiscordJsClient(client) || isHooked(client)) return false
  ;(client as unknown as Record<symbol, unknown>)[HOOKED] = true
  if (options.identify !== false) {
    const ws = (client.options.ws ??= {})
    ws.buildIdentifyThrottler ??= () => confirmingThrottler(port)
  }
  if (options.sessions !== false) hookSessions(client, port, options)
  if (options.gateway) handOverGateway(client, options.gateway)
  client.on(CLIENT_EVENTS.ShardReady, (id: number) => port.reportShard(id, 'ready'))
  client.on(CLIENT_EVENTS.ShardResume, (id: number) => port.reportShard(id, 'resumed'))
  client.on(CLIENT_EVENTS.ShardReconnecting, (id: number) => port.reportShard(id, 'reconnecting'))
  client.on(CLIENT_EVENTS.ShardDisconnect, (event: { code?: number } | undefined, id: number) => {
    const code = event?.code
    port.reportShard(id, 'disconnected', code)
    if (code !== undefined && FATAL_CLOSE_CODES.has(code)) port.fatal(`shard ${id} closed with fatal gateway code ${code}`)
  })
  hooks.destroy = () => client.destroy()
  port.setStatusProvider(() => shardStatus(client, port.shards))
  return true
}

/**
 * @discordjs/ws sends IDENTIFY in the same task in which the throttler's waitForIdentify resolves
 * (WebSocketShard#identify awaits it, then sends at once), so by the next task the IDENTIFY has
 * been written to the socket: that is when the manager hears it was sent.
 */
function confirmingThrottler(port: DiscordJsPort): { waitForIdentify(shardId: number, signal?: AbortSignal): Promise<void> } {
  const throttler = port.identifyThrottler()
  return {
    async waitForIdentify(shardId, signal) {
      await throttler.waitForIdentify(shardId, signal)
      setImmediate(() => port.identifySent(shardId))
    },
  }
}

/** Routes.gatewayBot(), what @discordjs/ws asks `rest.get` for on connect. */
const GATEWAY_BOT_ROUTE = '/gateway/bot'
/** Past this age (the client logged in long after its spawn) the client asks Discord itself. */
export const GATEWAY_HANDOVER_MAX_AGE_MS = 60_000

/**
 * On connect @discordjs/ws asks `client.rest.get('/gateway/bot')` for the gateway URL and the session
 * budget, which the manager asked a moment ago. The first such ask is answered from the manager's
 * answer (budget as the identify authority counts it, `reset_after` counted on from then); after that
 * `rest.get` is the client's own again. A client whose REST base is not the manager's asks for itself.
 */
function handOverGateway(client: DiscordJsClientLike, handOver: GatewayHandOver): void {
  const rest = client.rest
  if (!rest || typeof rest.get !== 'function' || trimSlashes(rest.options?.api) !== trimSlashes(handOver.api)) return
  const hadOwn = Object.prototype.hasOwnProperty.call(rest, 'get')
  const get = rest.get
  rest.get = function getWithHandOver(this: unknown, route: string, ...more: unknown[]) {
    if (route !== GATEWAY_BOT_ROUTE) return get.call(this, route, ...more)
    if (hadOwn) rest.get = get
    else delete (rest as Partial<RestLike>).get
    const age = Date.now() - handOver.at
    if (!(age >= 0 && age <= GATEWAY_HANDOVER_MAX_AGE_MS)) return get.call(this, route, ...more)
    const limit = handOver.data.session_start_limit
    return Promise.resolve({ ...handOver.data, session_start_limit: { ...limit, reset_after: Math.max(0, limit.reset_after - age) } })
  }
}

function trimSlashes(api: unknown): string | null {
  return typeof api === 'string' ? api.replace(/\/+$/, '') : null
}

/**
 * discord.js builds its @discordjs/ws manager synchronously at the start of `client.ws.connect()`
 * and reads sessions only later, when shards connect; wrapping connect lets us install the session
 * hooks in that gap.
 */
function hookSessions(client: DiscordJsClientLike, port: DiscordJsPort, options: DiscordJsHookOptions): void {
  const resume = options.resume === true
  const handedOver = new Map<number, SessionInfo>(resume ? Object.entries(port.sessions).map(([k, v]) => [Number(k), v]) : [])
  const resumed = new Map<number, SessionInfo>()
  // READY's bot identity, kept with the session so a resuming successor can become ready.
  let identity: SessionInfo['identity']
  /** Last session reported per shard. */
  const reported = new Map<number, SessionInfo>()
  const report = (shardId: number, info: SessionInfo | null) => {
    // A resumed session keeps the identity its predecessor stored (discord.js copies the object it was given).
    const session = info ? { ...info, identity: identity ?? info.identity ?? resumed.get(shardId)?.identity } : null
    if (session) reported.set(shardId, session)
    else reported.delete(shardId)
    port.reportSession(shardId, session)
  }
  client.on(CLIENT_EVENTS.Raw, (packet: { t?: string; d?: { user?: unknown; application?: unknown } }) => {
    if (packet?.t !== 'READY' || !packet.d) return
    identity = { user: packet.d.user, application: packet.d.application }
    // @discordjs/ws stores a session (and its next sequences) before discord.js emits READY: add the identity now.
    for (const [shardId, session] of reported) if (!session.identity) report(shardId, session)
  })
  if (resume) {
    client.on(CLIENT_EVENTS.ShardResume, (id: number) => {
      const session = resumed.get(id)
      resumed.delete(id) // only the first RESUME of a handed-over session lacks its READY
      if (session) completeResumedReady(client, id, session)
    })
  }
  const connect = client.ws.connect.bind(client.ws)
  client.ws.connect = function connectWithSessions() {
    const pending = connect()
    const wsManager = client.ws._ws
    if (wsManager && !(wsManager.options as { __dsmHooked?: boolean }).__dsmHooked) {
      const problems = wsManagerProblems(wsManager)
      if (problems.length > 0) {
        options.onProblem?.(`sessions are not stored (a respawn identifies again): ${problems.join('; ')}`)
        return pending
      }
      const wsOptions = wsManager.options
      const retrieve = wsOptions.retrieveSessionInfo.bind(wsOptions)
      const update = wsOptions.updateSessionInfo.bind(wsOptions)
      wsOptions.retrieveSessionInfo = async (shardId) => {
        const own = await retrieve(shardId)
        if (own) return own
        // A stored session is offered once; if the RESUME fails, discord.js clears it and identifies.
        let stored = handedOver.get(shardId) ?? null
        handedOver.delete(shardId)
        // Offered only when the resumed shard can become ready without a READY of its own.
        const problems = stored ? resumeProblems(client, shardId) : []
        if (problems.length > 0) {
          options.onProblem?.(`shard ${shardId} identifies instead of resuming its handed-over session: ${problems.join('; ')}`)
          stored = null
        }
        if (stored) {
          resumed.set(shardId, stored)
          // discord.js keeps its own copy on its shard object and reads it on HELLO and RESUMED
          // (`shard.sessionInfo.sequence`); without it a fresh client crashes on its first RESUMED.
          update(shardId, stored)
        }
        return stored
      }
      wsOptions.updateSessionInfo = (shardId, info) => {
        update(shardId, info)
        report(shardId, info)
      }
      ;(wsOptions as { __dsmHooked?: boolean }).__dsmHooked = true
    }
    return pending
  }
}

/**
 * A shard that RESUMEd a predecessor's session never sees READY, so discord.js would never set
 * client.user or become ready (and would queue every event forever). Feed it the READY identity
 * the predecessor stored, with no guilds to wait for.
 */
function completeResumedReady(client: DiscordJsClientLike, shardId: number, session: SessionInfo): void {
  const ws = client.ws as unknown as {
    shards: Map<number, { onReadyPacket(d: unknown): void }>
    handlePacket(packet: unknown, shard: unknown): void
  }
  const shard = ws.shards.get(shardId)
  if (!session.identity || !shard) return
  const d = {
    v: 10,
    user: session.identity.user,
    application: session.identity.application,
    guilds: [],
    session_id: session.sessionId,
    resume_gateway_url: session.resumeURL,
    shard: [shardId, session.shardCount],
  }
  shard.onReadyPacket(d)
  ws.handlePacket({ op: 0, t: 'READY', s: null, d }, shard)
}

function shardStatus(client: DiscordJsClientLike, shards: readonly number[]): ShardStatus[] {
  const guilds = new Map<number, number>()
  for (const g of client.guilds?.cache.values() ?? []) guilds.set(g.shardId, (guilds.get(g.shardId) ?? 0) + 1)
  return shards.map((id) => {
    const shard = client.ws.shards.get(id)
    return {
      id,
      state: shard ? (STATUS_NAMES[shard.status] ?? String(shard.status)) : 'idle',
      ping: shard && shard.ping >= 0 ? shard.ping : undefined,
      guilds: guilds.get(id) ?? 0,
    }
  })
}

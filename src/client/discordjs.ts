/**
 * discord.js v14 adapter. attach(client) (before login) makes a discord.js Client:
 * - take identify turns from the manager's identify authority (ws.buildIdentifyThrottler),
 * - resume sessions the manager kept from a previous instance, and report new ones
 *   (the @discordjs/ws retrieveSessionInfo / updateSessionInfo hooks),
 * - report shard ready / resume / disconnect, and stop for good on fatal close codes,
 * - expose ping and guild counts to manager.status().
 * Nothing here imports discord.js: it works on the client object the bot already built.
 */
import { FATAL_CLOSE_CODES } from '../constants.js'
import type { SessionInfo } from '../runtime/context.js'
import type { InstanceRuntime, ShardStatus } from '../runtime/instance-runtime.js'
import type { ShardingClient } from './ShardingClient.js'

export interface AttachOptions {
  /** Route IDENTIFYs through the manager's identify authority (default true). */
  identify?: boolean
  /** Report sessions to the manager's session store (default true). */
  sessions?: boolean
  /**
   * RESUME the sessions a previous instance left (default false). discord.js builds its caches
   * (user, guilds, channels) from READY and GUILD_CREATE, which a RESUME in a fresh process never
   * gets: with `resume: true` the client becomes ready from a stored READY identity with an empty
   * guild cache that fills from later events. Meant for bots that do not rely on the cache (partials);
   * by default a respawned instance IDENTIFYs and gets its full state.
   */
  resume?: boolean
}

interface WsOptions {
  retrieveSessionInfo(shardId: number): SessionInfo | null | Promise<SessionInfo | null>
  updateSessionInfo(shardId: number, info: SessionInfo | null): unknown
}

interface DiscordJsClientLike {
  options: { ws?: Record<string, unknown> }
  ws: { connect(): Promise<void>; _ws?: { options: WsOptions } | null; shards: Map<number, { ping: number; status: number }> }
  guilds?: { cache: { values(): Iterable<{ shardId: number }> } }
  on(event: string, fn: (...args: any[]) => void): unknown
  destroy(): Promise<void> | void
}

const STATUS_NAMES = ['ready', 'connecting', 'reconnecting', 'idle', 'nearly', 'disconnected', 'waitingForGuilds', 'identifying', 'resuming']

export function isDiscordJsClient(value: unknown): value is DiscordJsClientLike {
  const c = value as DiscordJsClientLike
  return typeof c === 'object' && c !== null && typeof c.on === 'function' && typeof c.ws?.connect === 'function' && typeof c.options === 'object'
}

export function attachDiscordJs(sharding: ShardingClient, runtime: InstanceRuntime, client: unknown, options: AttachOptions): void {
  if (!isDiscordJsClient(client)) return
  if (options.identify !== false) {
    const ws = (client.options.ws ??= {})
    ws.buildIdentifyThrottler ??= () => sharding.identifyThrottler()
  }
  if (options.sessions !== false) hookSessions(client, sharding, options.resume === true)
  client.on('shardReady', (id: number) => sharding.reportShard(id, 'ready'))
  client.on('shardResume', (id: number) => sharding.reportShard(id, 'resumed'))
  client.on('shardReconnecting', (id: number) => sharding.reportShard(id, 'reconnecting'))
  client.on('shardDisconnect', (event: { code?: number } | undefined, id: number) => {
    const code = event?.code
    sharding.reportShard(id, 'disconnected', code)
    if (code !== undefined && FATAL_CLOSE_CODES.has(code)) sharding.fatal(`shard ${id} closed with fatal gateway code ${code}`)
  })
  runtime.hooks.destroy = () => client.destroy()
  sharding.setStatusProvider(() => shardStatus(client, sharding.shards))
}

/**
 * discord.js builds its @discordjs/ws manager synchronously at the start of `client.ws.connect()`
 * and reads sessions only later, when shards connect; wrapping connect lets us install the session
 * hooks in that gap.
 */
function hookSessions(client: DiscordJsClientLike, sharding: ShardingClient, resume: boolean): void {
  const handedOver = new Map<number, SessionInfo>(resume ? Object.entries(sharding.sessions).map(([k, v]) => [Number(k), v]) : [])
  const resumed = new Map<number, SessionInfo>()
  // READY's bot identity, kept with the session so a resuming successor can become ready.
  let identity: SessionInfo['identity']
  client.on('raw', (packet: { t?: string; d?: { user?: unknown; application?: unknown } }) => {
    if (packet?.t === 'READY' && packet.d) identity = { user: packet.d.user, application: packet.d.application }
  })
  if (resume) {
    client.on('shardResume', (id: number) => {
      const session = resumed.get(id)
      resumed.delete(id) // only the first RESUME of a handed-over session lacks its READY
      if (session) completeResumedReady(client, id, session)
    })
  }
  const connect = client.ws.connect.bind(client.ws)
  client.ws.connect = function connectWithSessions() {
    const pending = connect()
    const wsOptions = client.ws._ws?.options
    if (wsOptions && !(wsOptions as { __dsmHooked?: boolean }).__dsmHooked) {
      const retrieve = wsOptions.retrieveSessionInfo.bind(wsOptions)
      const update = wsOptions.updateSessionInfo.bind(wsOptions)
      wsOptions.retrieveSessionInfo = async (shardId) => {
        const own = await retrieve(shardId)
        if (own) return own
        // A stored session is offered once; if the RESUME fails, discord.js clears it and identifies.
        const stored = handedOver.get(shardId) ?? null
        handedOver.delete(shardId)
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
        sharding.reportSession(shardId, info ? { ...info, identity: identity ?? resumed.get(shardId)?.identity } : null)
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

function shardStatus(client: DiscordJsClientLike, shards: number[]): ShardStatus[] {
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

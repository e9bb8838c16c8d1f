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
  /** Resume stored sessions and report new ones to the manager (default true). */
  sessions?: boolean
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
  if (options.sessions !== false) hookSessions(client, sharding)
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
function hookSessions(client: DiscordJsClientLike, sharding: ShardingClient): void {
  const handedOver = new Map<number, SessionInfo>(Object.entries(sharding.sessions).map(([k, v]) => [Number(k), v]))
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
        return stored
      }
      wsOptions.updateSessionInfo = (shardId, info) => {
        update(shardId, info)
        sharding.reportSession(shardId, info)
      }
      ;(wsOptions as { __dsmHooked?: boolean }).__dsmHooked = true
    }
    return pending
  }
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

/**
 * Every discord.js v14 internal the adapter touches, in one place, with a check for each. The
 * runtime checks them before adapting a bot and falls back (the manager then starts instances in
 * key-aware waves) when one is missing; test/unit/discordjs-versions.test.ts checks them against
 * every discord.js minor version the peer range allows, so a release that changes one fails loudly.
 *
 * Public API the adapter also uses (stable across v14): `ClientOptions.ws.buildIdentifyThrottler`,
 * the `shardReady` / `shardResume` / `shardReconnecting` / `shardDisconnect` / `raw` events,
 * `client.destroy()`, `guild.shardId`.
 */

/** discord.js `Status` enum order (src/util/Status.js): index = status number. */
export const STATUS_NAMES = ['ready', 'connecting', 'reconnecting', 'idle', 'nearly', 'disconnected', 'waitingForGuilds', 'identifying', 'resuming'] as const

/** Client events the adapter listens to (discord.js `Events`). */
export const CLIENT_EVENTS = { ShardReady: 'shardReady', ShardResume: 'shardResume', ShardReconnecting: 'shardReconnecting', ShardDisconnect: 'shardDisconnect', Raw: 'raw' } as const

const hasOwn = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key)
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null
const isFunction = (v: unknown) => typeof v === 'function'

/**
 * Whether a loaded module is discord.js's main export. Own-property checks only: reading a missing
 * property of a module that is still loading (circular require) makes Node print a warning.
 */
export function isDiscordJsExports(value: unknown): value is Record<string, unknown> {
  return isObject(value) && hasOwn(value, 'ShardClientUtil') && hasOwn(value, 'Client') && hasOwn(value, 'version') && hasOwn(value, 'WebSocketManager')
}

/** What is wrong with a discord.js module for the adapter; [] when it can be adapted. */
export function exportsProblems(djs: Record<string, unknown>): string[] {
  const problems: string[] = []
  const version = djs.version
  if (typeof version !== 'string' || !version.startsWith('14.')) problems.push(`version ${String(version)} is not 14.x`)
  const Client = djs.Client as { prototype?: Record<string, unknown> } | undefined
  if (!isFunction(Client) || !isFunction(Client?.prototype?.login)) problems.push('Client.prototype.login is not a function')
  return problems
}

/** What is wrong with a Client instance (before login) for the adapter; [] when it can be adapted. */
export function clientProblems(client: unknown): string[] {
  if (!isObject(client)) return ['the client is not an object']
  const problems: string[] = []
  const options = client.options as Record<string, unknown> | undefined
  if (!isObject(options) || !isObject(options.ws)) problems.push('client.options.ws is not an object')
  if (!isFunction(client.on)) problems.push('client.on is not a function')
  const ws = client.ws as Record<string, unknown> | undefined
  if (!isObject(ws)) return [...problems, 'client.ws is not an object']
  if (!isFunction(ws.connect)) problems.push('client.ws.connect is not a function')
  if (!(ws.shards instanceof Map)) problems.push('client.ws.shards is not a Map')
  if (!('_ws' in ws)) problems.push('client.ws._ws (the @discordjs/ws manager) is missing')
  return problems
}

/**
 * What is wrong with the @discordjs/ws manager discord.js builds at the start of `client.ws.connect()`
 * for the session hooks; [] when sessions can be stored and handed over.
 */
export function wsManagerProblems(wsManager: unknown): string[] {
  if (!isObject(wsManager) || !isObject(wsManager.options)) return ['client.ws._ws.options is missing after client.ws.connect()']
  const problems: string[] = []
  if (!isFunction(wsManager.options.retrieveSessionInfo)) problems.push('client.ws._ws.options.retrieveSessionInfo is not a function')
  if (!isFunction(wsManager.options.updateSessionInfo)) problems.push('client.ws._ws.options.updateSessionInfo is not a function')
  return problems
}

/**
 * What a shard that RESUMEs a handed-over session needs to become ready without a READY of its own
 * (discordjs-hooks.ts completeResumedReady). Checked when the shard connects (its discord.js shard
 * object exists by then); [] when it can resume.
 */
export function resumeProblems(client: unknown, shardId: number): string[] {
  const ws = isObject(client) ? (client.ws as Record<string, unknown> | undefined) : undefined
  if (!isObject(ws)) return ['client.ws is not an object']
  const problems: string[] = []
  if (!isFunction(ws.handlePacket)) problems.push('client.ws.handlePacket is not a function')
  const shard = ws.shards instanceof Map ? (ws.shards.get(shardId) as Record<string, unknown> | undefined) : undefined
  if (!isObject(shard)) problems.push(`client.ws.shards has no shard ${shardId} when it connects`)
  else {
    if (!isFunction(shard.onReadyPacket)) problems.push('WebSocketShard#onReadyPacket is not a function')
    if (!('sessionInfo' in shard)) problems.push('WebSocketShard#sessionInfo is missing')
  }
  return problems
}

/** Argument and result types of GatewaySimulator's public methods. */

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

/** Growth or shrinkage at run time: see {@link GatewaySimulator.scale}. */
export interface ScaleOptions {
  /** Guild count to reach: generated guilds are added (GUILD_CREATE to owners) or the newest removed (GUILD_DELETE). */
  guilds?: number
  /** Pin `/gateway/bot`'s `shards` to this; `null` goes back to computing it from the guild count. */
  recommendedShards?: number | null
}

export interface ScaleResult {
  guilds: number
  added: number
  removed: number
  /** `shards` that `/gateway/bot` answers now. */
  recommendedShards: number
  /** What it answered before this call. */
  previousRecommendedShards: number
}

/** A session that {@link GatewaySimulator.enforceShardingRequired} closed or ended. */
export interface ShardingRequiredClose {
  sessionId: string
  shard: [number, number]
  /** Guilds its shard holds now (more than `maxGuildsPerShard`). */
  guilds: number
  /** True: its socket was closed with 4011. False: it was detached (resumable) and has been ended instead. */
  connected: boolean
}

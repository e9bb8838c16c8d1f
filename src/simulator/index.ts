/**
 * `discordoo-sharding/simulator`: a local Discord gateway for tests, benchmarks and demos. Real discord.js
 * v14 bots connect to it with `rest: { api: sim.urls().restUrl }`; no internet and no real token needed.
 */
export { GatewaySimulator } from './GatewaySimulator.js'
export type {
  SimulatorAddress,
  SimulatorStartOptions,
  ShardSelector,
  ScaleOptions,
  ScaleResult,
  ShardingRequiredClose,
} from './admin-types.js'
export { resolveOptions, PRIVILEGED_INTENTS, KNOWN_INTENTS_MASK } from './options.js'
export type {
  SimulatorOptions,
  ResolvedSimulatorOptions,
  SessionStartLimitOptions,
  RateLimitOptions,
  IntentOptions,
  SimulatorUser,
  BudgetExhaustedMode,
  AdminHttpAccess,
} from './options.js'
export type { SimulatorStats, LiveSessionInfo, ShardCounters, SessionStartLimit } from './stats.js'
export type { ShardOverlap } from './shard-occupancy.js'
export type { GuildCoverage } from './sharding.js'
export type { IdentifyRecord, ViolationRecord, IdentifyOutcome } from './identify-rules.js'
export { IdentifyRules } from './identify-rules.js'
export type {
  SimulatorEventMap,
  SessionEvent,
  SessionEndEvent,
  ResumeEvent,
  CloseEvent,
  InvalidSessionEvent,
  BudgetExhaustedEvent,
  ConnectionEvent,
  RecommendedShardsEvent,
  BudgetResetEvent,
  DuplicateSessionEvent,
} from './events.js'
export type { SessionEndReason } from './sessions.js'
export {
  DISCORD_EPOCH,
  createSnowflake,
  snowflakeTimestamp,
  isSnowflake,
  shardOfGuild,
  guildIdAt,
  makeGuildIds,
} from './snowflake.js'
export { GatewayCloseCode, GatewayOp } from './protocol.js'
export { startSimulatorFromCli, cliToSimulatorOptions } from './cli.js'
export type { SimulatorCliOptions } from './cli.js'

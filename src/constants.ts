/** How a manager runs its shards. Lowercase string values are accepted wherever a mode is expected. */
export const ShardingManagerModes = {
  PROCESSES: 'processes',
  WORKERS: 'workers',
  MACHINES: 'machines',
} as const
export type ShardingManagerMode = (typeof ShardingManagerModes)[keyof typeof ShardingManagerModes]

/** The local modes a child manager (MACHINES) can run its slice in. */
export const ChildShardingModes = {
  PROCESSES: 'processes',
  WORKERS: 'workers',
} as const
export type ChildShardingMode = (typeof ChildShardingModes)[keyof typeof ChildShardingModes]

/** Default TCP (and UDP) port of a child manager in standby. */
export const DEFAULT_CHILD_PORT = 8379

/** Version of the manager ⇄ instance envelope protocol. */
export const PROTOCOL_VERSION = 1

/** Environment variable that carries the instance's sharding context (JSON). */
export const CONTEXT_ENV = 'DISCORDOO_SHARDING'

/** Exit code an instance uses when it stops for a reason a restart cannot fix (bad token, 4010-4014). */
export const FATAL_EXIT_CODE = 78

/** Gateway close codes after which reconnecting or respawning cannot help. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([4004, 4010, 4011, 4012, 4013, 4014])

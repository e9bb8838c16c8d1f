/**
 * The options a user passes to `new ShardingManager(...)`, their defaults, and their validation.
 * Everything is checked at construction by one schema (src/options/schema.ts), nested options
 * included, so a typo or a wrong type fails loudly before any process starts.
 */
import { existsSync, statSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { ShardingManagerModes, type ShardingManagerMode } from '../constants.js'
import { OptionsError } from '../errors.js'
import { resolveMachinesOptions, type MachinesOptions, type ResolvedMachines } from '../machines/options.js'
import { anyString, restartsShape, semiSpaceGrowthFactor, timeoutsShape } from '../options/common.js'
import { bool, int, object, oneOf, optional, recordOf, schema, arrayOf, str } from '../options/schema.js'
import { parseShards, type ShardsOption } from './shard-plan.js'
import { START_STRATEGIES, type StartStrategy } from './start-gate.js'

/** Default `semiSpaceGrowthFactor`: see src/modes/young-generation.ts. */
export const DEFAULT_SEMI_SPACE_GROWTH_FACTOR = 4
/** Default `managerSemiSpaceGrowthFactor`: see src/modes/manager-young-generation.ts. */
export const DEFAULT_MANAGER_SEMI_SPACE_GROWTH_FACTOR = 4

export interface RestartOptions {
  /** Respawns allowed per `interval` before `instanceGaveUp` (default 5). */
  max?: number
  /** Window for `max`, ms (default 600 000). */
  interval?: number
  /** First backoff delay, ms (default 1000); doubles per restart, with jitter. */
  baseDelay?: number
  /** Backoff ceiling, ms (default 30 000). */
  maxDelay?: number
}

export interface TimeoutOptions {
  /** An instance that makes no start-up progress for this long is restarted, ms (default 60 000). */
  ready?: number
  /** Default deadline of broadcastEval / request / fetchClientValues / send, ms (default 30 000). */
  request?: number
  /** Manager → instance heartbeat period, ms (default 5000). */
  heartbeatInterval?: number
  /** An instance that answers no heartbeat for this long is hung: killed and respawned, ms (default 30 000; 0 disables; at least 2 × heartbeatInterval). */
  heartbeat?: number
  /** Graceful stop: how long to wait after asking before killing, ms (default 5000). */
  kill?: number
}

export interface IdentifyOptions {
  /** Overrides max_concurrency (default: /gateway/bot when a token is given, else 1). */
  maxConcurrency?: number
  /** Discord's identify window per key, ms (default 5000). */
  windowMs?: number
  /** Safety margin added to each window, counted from the grant, ms (default 250). */
  marginMs?: number
  /**
   * Margin after an IDENTIFY the shard confirmed as sent (discord.js bots, attached or adapted), ms
   * (default 100, at most marginMs): the next turn of the key may then come a window plus this after the send.
   */
  sentMarginMs?: number
  /** How instances start: see README "Identify and start-up" (default 'auto'). */
  strategy?: StartStrategy
  /** Daily session budget override (default: /gateway/bot's session_start_limit, else unlimited). */
  budget?: { total: number; remaining: number; resetAfter: number }
}

export interface ShardingManagerOptions {
  /** The client file each instance runs (required except on a MACHINES parent). */
  file?: string
  mode: ShardingManagerMode | Uppercase<ShardingManagerMode> | string
  shards?: ShardsOption
  totalShards?: number | 'auto'
  shardsPerInstance?: number
  /** Bot token: used to ask /gateway/bot; passed to instances only with `passToken: true`. */
  token?: string
  passToken?: boolean
  /** Base REST URL for /gateway/bot (default https://discord.com/api). */
  api?: string
  env?: Record<string, string>
  execArgv?: string[]
  /**
   * PROCESSES mode: how fast each instance process grows its young generation (V8's
   * `--semi-space-growth-factor`, default 4, set by the instance's runtime; null: V8's own 2). Not set
   * when `execArgv` or NODE_OPTIONS already size the young generation; never in WORKERS mode.
   */
  semiSpaceGrowthFactor?: number | null
  /**
   * PROCESSES mode: how fast the manager's own process grows its young generation while its instance
   * processes run (V8's `--semi-space-growth-factor`, default 4; null: V8's own 2). Fewer collections
   * land on calls to the instances: a lower steady p99. The last pool to stop restores V8's default.
   * Not set when the manager's own flags (its `process.execArgv`, NODE_OPTIONS) size the young
   * generation; never in WORKERS mode. See README "Performance of calls between processes".
   */
  managerSemiSpaceGrowthFactor?: number | null
  /**
   * V8's optimizing compiler waits while an instance's client file resolves its imports (default
   * true): Node's one-time parsing of the CommonJS packages an ES module imports is then not
   * optimized, ~0.1 s less CPU per instance boot. PROCESSES mode holds each instance process's own
   * compiler; WORKERS mode holds the process's (shared by its threads) until the last booting worker
   * has resolved its imports. Not applied when `execArgv` or NODE_OPTIONS (the instance's, or in
   * WORKERS mode the manager's) set V8's optimizer. See README "Instance boot".
   */
  holdOptimizerDuringImports?: boolean
  /**
   * WORKERS mode: V8's optimization of small functions at their first profiler tick is switched off
   * (`--max-bytecode-size-for-early-opt=0`) while the manager's worker threads run and none of them is
   * booting (default true), so the first thousands of calls after a start are not slowed by every thread
   * compiling each small helper on its own. V8's flags are the process's: a booting worker gets V8's
   * default back (Node's code cache for built-in modules needs it); the last worker to exit restores it.
   * Not applied when `execArgv` or NODE_OPTIONS set the flag, in PROCESSES mode, or on a V8 other than
   * 11.x (Node 20's). See README "Performance of calls between processes".
   */
  deferSmallFunctionOptimization?: boolean
  /** argv for the client file. */
  args?: string[]
  respawn?: boolean
  restarts?: RestartOptions
  timeouts?: TimeoutOptions
  /** Alias of `timeouts.kill`. */
  killTimeout?: number
  identify?: IdentifyOptions
  /**
   * Give unmodified discord.js v14 bots the manager's identify queue, session store and shard
   * reports from the preloaded runtime (default true). See README "discord.js bots".
   */
  adaptDiscordJs?: boolean
  /** Serve Prometheus `/metrics`, `/healthz` and `/status` on this port (the root manager). */
  metrics?: { port: number; host?: string }
  /** Re-shard by itself when /gateway/bot recommends more shards than run (checked every `checkInterval` ms, and on a 4011 close). Needs `token`. */
  reshard?: { auto?: boolean; checkInterval?: number }
  machines?: MachinesOptions
}

export interface ResolvedOptions {
  file: string | null
  mode: ShardingManagerMode
  shards: number[] | 'auto' | null
  totalShards: number | 'auto' | null
  shardsPerInstance: number
  token: string | null
  passToken: boolean
  api: string
  env: Record<string, string>
  execArgv: string[]
  semiSpaceGrowthFactor: number | null
  managerSemiSpaceGrowthFactor: number | null
  holdOptimizerDuringImports: boolean
  deferSmallFunctionOptimization: boolean
  args: string[]
  respawn: boolean
  restarts: Required<RestartOptions>
  timeouts: Required<TimeoutOptions>
  identify: {
    maxConcurrency: number | null
    windowMs: number
    marginMs: number
    sentMarginMs: number
    strategy: StartStrategy
    budget: { total: number; remaining: number; resetAfter: number } | null
  }
  adaptDiscordJs: boolean
  metrics: { port: number; host: string } | null
  reshard: { auto: boolean; checkInterval: number }
  machines: ResolvedMachines | null
}

const identifySchema = object({
  maxConcurrency: optional(int(1, 1024)),
  windowMs: optional(int(0)),
  marginMs: optional(int(0)),
  sentMarginMs: optional(int(0)),
  strategy: optional(oneOf(START_STRATEGIES)),
  budget: optional(object({ total: int(0), remaining: int(0), resetAfter: int(0) })),
})

const MODES = Object.values(ShardingManagerModes)

/** discord.js's ShardingManager options that are named differently here (README: Coming from discord.js's ShardingManager). */
const DISCORDJS_OPTIONS: Readonly<Record<string, string>> = {
  shardArgs: "discord.js's 'shardArgs' is 'args' here",
  shardList: "discord.js's 'shardList' is 'shards' here (with 'totalShards' when the bot has more)",
  silent: "discord.js's 'silent' has no equivalent: instances write to the manager's own stdout and stderr",
}

/** discord-hybrid-sharding's ClusterManager options: a cluster is an instance here. */
const HYBRID_SHARDING_OPTIONS: Readonly<Record<string, string>> = {
  totalClusters: "discord-hybrid-sharding's 'totalClusters' follows from 'shardsPerInstance' here (a cluster is an instance; there are shards ÷ shardsPerInstance of them)",
  shardsPerClusters: "discord-hybrid-sharding's 'shardsPerClusters' is 'shardsPerInstance' here",
  clusterData: "discord-hybrid-sharding's 'clusterData' is 'env' here (each instance's environment variables)",
  clusterOptions: "discord-hybrid-sharding's 'clusterOptions' has no equivalent: node flags go in 'execArgv', arguments in 'args', environment in 'env'",
  queue: "discord-hybrid-sharding's 'queue' has no equivalent: every IDENTIFY waits for its turn in the manager's identify queue (see 'identify')",
  spawnOptions: "discord-hybrid-sharding's 'spawnOptions' has no equivalent: start() needs no delay or amount, every IDENTIFY waits for its turn",
}

const optionsSchema = object({
  file: optional(schema<unknown>('a path', (v) => v)),
  mode: schema<ShardingManagerMode>('a mode', (v, f) => resolveMode(f, v)),
  shards: optional(schema<unknown>('shards', (v) => v)),
  totalShards: optional(schema<number | 'auto'>("an integer ≥ 1 or 'auto'", (v, f) => (v === 'auto' ? 'auto' : int(1).parse(v, f)))),
  shardsPerInstance: optional(int(1, 10_000), 1),
  token: optional(str()),
  passToken: optional(bool(), false),
  api: optional(str(), 'https://discord.com/api'),
  env: optional(recordOf(anyString), () => ({})),
  execArgv: optional(arrayOf(anyString, 1000), () => []),
  semiSpaceGrowthFactor: optional(semiSpaceGrowthFactor, DEFAULT_SEMI_SPACE_GROWTH_FACTOR),
  managerSemiSpaceGrowthFactor: optional(semiSpaceGrowthFactor, DEFAULT_MANAGER_SEMI_SPACE_GROWTH_FACTOR),
  holdOptimizerDuringImports: optional(bool(), true),
  deferSmallFunctionOptimization: optional(bool(), true),
  args: optional(arrayOf(anyString, 1000), () => []),
  respawn: optional(bool(), true),
  restarts: optional(object(restartsShape)),
  timeouts: optional(object(timeoutsShape)),
  killTimeout: optional(int(0)),
  identify: optional(identifySchema),
  adaptDiscordJs: optional(bool(), true),
  metrics: optional(object({ port: int(0, 65535), host: optional(str(255), '127.0.0.1') })),
  reshard: optional(object({ auto: optional(bool(), false), checkInterval: optional(int(1000), 3_600_000) })),
  machines: optional(schema<unknown>('machines', (v) => v)),
}, { renamed: { ...DISCORDJS_OPTIONS, ...HYBRID_SHARDING_OPTIONS } })

/** discord.js's and discord-hybrid-sharding's names for the local modes, so their `mode` carries over. */
const MODE_ALIASES: Readonly<Record<string, ShardingManagerMode>> = { process: 'processes', worker: 'workers' }

export function resolveMode(field: string, value: unknown, allowed: readonly string[] = MODES): ShardingManagerMode {
  const lower = typeof value === 'string' ? value.toLowerCase() : value
  const mode = typeof lower === 'string' ? (MODE_ALIASES[lower] ?? lower) : lower
  if (typeof mode !== 'string' || !allowed.includes(mode)) {
    throw new OptionsError(field, `unknown mode ${JSON.stringify(value)}; use one of ${allowed.map((m) => `'${m}'`).join(', ')} (ShardingManagerModes.*)`)
  }
  return mode as ShardingManagerMode
}

export function resolveOptions(raw: ShardingManagerOptions): ResolvedOptions {
  if (typeof raw === 'string') {
    throw new OptionsError('options', `expected an options object; discord.js's new ShardingManager(${JSON.stringify(raw)}, options) is new ShardingManager({ file: ${JSON.stringify(raw)}, mode: 'process', ...options }) here (README: Coming from discord.js's ShardingManager)`)
  }
  if (typeof raw !== 'object' || raw === null) throw new OptionsError('options', 'expected an options object')
  const o = optionsSchema.parse(raw, '')
  const mode = o.mode
  const machines = o.machines !== undefined || mode === 'machines' ? resolveMachinesOptions(mode, o.machines as MachinesOptions | undefined) : null
  const isParent = machines?.me === 'parent'
  const isChild = machines?.me === 'child'

  const file = isParent ? null : resolveFile(o.file)
  // discord.js's ShardingManager runs every shard of `totalShards` when no list is given; so does this one.
  const shardsField = o.shards === undefined && o.totalShards !== undefined ? 'totalShards' : 'shards'
  const shards = isParent || isChild ? null : parseShards(shardsField, required('shards', o.shards ?? o.totalShards))
  const totalShards = resolveTotal(o.totalShards, shards)
  const identify: IdentifyOptions = o.identify ?? {}
  if (o.reshard?.auto && !o.token) {
    throw new OptionsError('reshard.auto', "re-sharding by itself asks Discord's /gateway/bot for the recommended count and needs `token`")
  }
  if (shards === 'auto' && !o.token) {
    throw new OptionsError(shardsField, "'auto' asks Discord's /gateway/bot and needs `token`; pass a token or a shard count")
  }
  return {
    file,
    mode,
    shards,
    totalShards,
    shardsPerInstance: o.shardsPerInstance!,
    token: o.token ? o.token.replace(/^(Bot|Bearer)\s+/i, '') : null,
    passToken: o.passToken!,
    api: o.api!.replace(/\/+$/, ''),
    env: o.env!,
    execArgv: o.execArgv!,
    semiSpaceGrowthFactor: o.semiSpaceGrowthFactor as number | null, // absent: the schema's fallback
    managerSemiSpaceGrowthFactor: o.managerSemiSpaceGrowthFactor as number | null,
    holdOptimizerDuringImports: o.holdOptimizerDuringImports!,
    deferSmallFunctionOptimization: o.deferSmallFunctionOptimization!,
    args: o.args!,
    respawn: o.respawn!,
    restarts: withRestartDefaults(o.restarts ?? {}),
    timeouts: withTimeoutDefaults(o.timeouts ?? {}, 'timeouts', o.killTimeout),
    identify: {
      maxConcurrency: identify.maxConcurrency ?? null,
      windowMs: identify.windowMs ?? 5000,
      marginMs: identify.marginMs ?? 250,
      sentMarginMs: Math.min(identify.sentMarginMs ?? 100, identify.marginMs ?? 250),
      strategy: identify.strategy ?? 'auto',
      budget: identify.budget ?? null,
    },
    adaptDiscordJs: o.adaptDiscordJs!,
    metrics: o.metrics ? { port: o.metrics.port, host: o.metrics.host! } : null,
    reshard: { auto: o.reshard?.auto ?? false, checkInterval: o.reshard?.checkInterval ?? 3_600_000 },
    machines,
  }
}

export function withRestartDefaults(r: Partial<RestartOptions>): Required<RestartOptions> {
  return { max: r.max ?? 5, interval: r.interval ?? 600_000, baseDelay: r.baseDelay ?? 1000, maxDelay: r.maxDelay ?? 30_000 }
}

/** Fills defaults and checks how the timeouts relate to each other. */
export function withTimeoutDefaults(t: Partial<TimeoutOptions>, field: string, killAlias?: number): Required<TimeoutOptions> {
  const out = {
    ready: t.ready ?? 60_000,
    request: t.request ?? 30_000,
    heartbeatInterval: t.heartbeatInterval ?? 5000,
    heartbeat: t.heartbeat ?? 30_000,
    kill: t.kill ?? killAlias ?? 5000,
  }
  if (out.heartbeat > 0 && out.heartbeat < 2 * out.heartbeatInterval) {
    throw new OptionsError(
      `${field}.heartbeat`,
      `is ${out.heartbeat} ms but ${field}.heartbeatInterval is ${out.heartbeatInterval} ms: every instance would be killed as hung between two heartbeats; use at least 2 × heartbeatInterval (${2 * out.heartbeatInterval}), or 0 to disable hang detection`,
    )
  }
  return out
}

function required<T>(field: string, value: T | undefined): T {
  if (value === undefined || value === null) throw new OptionsError(field, 'is required')
  return value
}

export function resolveFile(value: unknown, field = 'file'): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new OptionsError(field, 'is required: the path of the client file each instance runs')
  }
  const path = isAbsolute(value) ? value : resolve(process.cwd(), value)
  if (!existsSync(path)) throw new OptionsError(field, `no such file: ${path}`)
  if (!statSync(path).isFile()) throw new OptionsError(field, `not a file: ${path}`)
  return path
}

function resolveTotal(value: number | 'auto' | undefined, shards: number[] | 'auto' | null): number | 'auto' | null {
  if (value === undefined) return shards === 'auto' ? 'auto' : shards === null ? null : Math.max(...shards) + 1
  if (value === 'auto') return 'auto'
  if (Array.isArray(shards)) {
    const max = Math.max(...shards)
    if (max >= value) {
      throw new OptionsError('totalShards', `is ${value} but shard ${max} is listed; shard ids run 0..totalShards-1`)
    }
  }
  return value
}

/**
 * The options a user passes to `new ShardingManager(...)`, their defaults, and their validation.
 * Everything is checked at construction so a typo fails loudly before any process starts.
 */
import { existsSync, statSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { ShardingManagerModes, type ShardingManagerMode } from '../constants.js'
import { OptionsError } from '../errors.js'
import { parseShards, type ShardsOption } from './shard-plan.js'
import type { StartStrategy } from './start-gate.js'
import { resolveMachinesOptions, type MachinesOptions, type ResolvedMachines } from './machines-options.js'

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
  /** Default timeout of broadcastEval / request / fetchClientValues, ms (default 30 000). */
  request?: number
  /** Manager → instance heartbeat period, ms (default 5000). */
  heartbeatInterval?: number
  /** An instance that answers no heartbeat for this long is hung: killed and respawned, ms (default 30 000; 0 disables). */
  heartbeat?: number
  /** Graceful stop: how long to wait after asking before killing, ms (default 5000). */
  kill?: number
}

export interface IdentifyOptions {
  /** Overrides max_concurrency (default: /gateway/bot when a token is given, else 1). */
  maxConcurrency?: number
  /** Discord's identify window per key, ms (default 5000). */
  windowMs?: number
  /** Safety margin added to each window, ms (default 250). */
  marginMs?: number
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
  /** argv for the client file. */
  args?: string[]
  respawn?: boolean
  restarts?: RestartOptions
  timeouts?: TimeoutOptions
  /** Alias of `timeouts.kill`. */
  killTimeout?: number
  identify?: IdentifyOptions
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
  args: string[]
  respawn: boolean
  restarts: Required<RestartOptions>
  timeouts: Required<TimeoutOptions>
  identify: {
    maxConcurrency: number | null
    windowMs: number
    marginMs: number
    strategy: StartStrategy
    budget: { total: number; remaining: number; resetAfter: number } | null
  }
  machines: ResolvedMachines | null
}

const MODES = new Set<string>(Object.values(ShardingManagerModes))

export function resolveMode(field: string, value: unknown, allowed: Set<string> = MODES): ShardingManagerMode {
  const mode = typeof value === 'string' ? value.toLowerCase() : value
  if (typeof mode !== 'string' || !allowed.has(mode)) {
    throw new OptionsError(field, `unknown mode ${JSON.stringify(value)}; use one of ${[...allowed].map((m) => `'${m}'`).join(', ')} (ShardingManagerModes.*)`)
  }
  return mode as ShardingManagerMode
}

export function resolveOptions(raw: ShardingManagerOptions): ResolvedOptions {
  if (typeof raw !== 'object' || raw === null) throw new OptionsError('options', 'expected an options object')
  const mode = resolveMode('mode', raw.mode)
  const machines = raw.machines !== undefined || mode === 'machines' ? resolveMachinesOptions(mode, raw.machines) : null
  const isParent = machines?.me === 'parent'
  const isChild = machines?.me === 'child'

  const file = isParent ? null : resolveFile(raw.file)
  const shards = isParent || isChild ? null : parseShards('shards', required('shards', raw.shards))
  const totalShards = resolveTotal(raw.totalShards, shards)
  const shardsPerInstance = positiveInt('shardsPerInstance', raw.shardsPerInstance ?? 1, 1)

  const timeouts = raw.timeouts ?? {}
  const identify = raw.identify ?? {}
  const restarts = raw.restarts ?? {}
  const strategy = identify.strategy ?? 'auto'
  if (!['auto', 'coordinated', 'sequential'].includes(strategy)) {
    throw new OptionsError('identify.strategy', `expected 'auto', 'coordinated' or 'sequential', got ${JSON.stringify(strategy)}`)
  }
  if (raw.token !== undefined && (typeof raw.token !== 'string' || raw.token.length === 0)) {
    throw new OptionsError('token', 'expected a non-empty string')
  }
  if (shards === 'auto' && !raw.token) {
    throw new OptionsError('shards', "'auto' asks Discord's /gateway/bot and needs `token`; pass a token or a shard count")
  }
  const budget = identify.budget ?? null
  if (budget) {
    nonNegativeInt('identify.budget.total', budget.total)
    nonNegativeInt('identify.budget.remaining', budget.remaining)
    nonNegativeInt('identify.budget.resetAfter', budget.resetAfter)
  }
  return {
    file,
    mode,
    shards,
    totalShards,
    shardsPerInstance,
    token: raw.token ? raw.token.replace(/^(Bot|Bearer)\s+/i, '') : null,
    passToken: raw.passToken ?? false,
    api: stringOr('api', raw.api, 'https://discord.com/api').replace(/\/+$/, ''),
    env: stringRecord('env', raw.env),
    execArgv: stringArray('execArgv', raw.execArgv),
    args: stringArray('args', raw.args),
    respawn: raw.respawn ?? true,
    restarts: {
      max: nonNegativeInt('restarts.max', restarts.max ?? 5),
      interval: positiveInt('restarts.interval', restarts.interval ?? 600_000, 1),
      baseDelay: nonNegativeInt('restarts.baseDelay', restarts.baseDelay ?? 1000),
      maxDelay: nonNegativeInt('restarts.maxDelay', restarts.maxDelay ?? 30_000),
    },
    timeouts: {
      ready: positiveInt('timeouts.ready', timeouts.ready ?? 60_000, 1),
      request: positiveInt('timeouts.request', timeouts.request ?? 30_000, 1),
      heartbeatInterval: positiveInt('timeouts.heartbeatInterval', timeouts.heartbeatInterval ?? 5000, 10),
      heartbeat: nonNegativeInt('timeouts.heartbeat', timeouts.heartbeat ?? 30_000),
      kill: nonNegativeInt('timeouts.kill', timeouts.kill ?? raw.killTimeout ?? 5000),
    },
    identify: {
      maxConcurrency: identify.maxConcurrency === undefined ? null : positiveInt('identify.maxConcurrency', identify.maxConcurrency, 1),
      windowMs: nonNegativeInt('identify.windowMs', identify.windowMs ?? 5000),
      marginMs: nonNegativeInt('identify.marginMs', identify.marginMs ?? 250),
      strategy,
      budget,
    },
    machines,
  }
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

function resolveTotal(value: unknown, shards: number[] | 'auto' | null): number | 'auto' | null {
  if (value === undefined) return shards === 'auto' ? 'auto' : shards === null ? null : Math.max(...shards) + 1
  if (value === 'auto') return 'auto'
  const total = positiveInt('totalShards', value, 1)
  if (Array.isArray(shards)) {
    const max = Math.max(...shards)
    if (max >= total) {
      throw new OptionsError('totalShards', `is ${total} but shard ${max} is listed; shard ids run 0..totalShards-1`)
    }
  }
  return total
}

export function positiveInt(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new OptionsError(field, `expected an integer ≥ ${min}, got ${JSON.stringify(value)}`)
  }
  return value
}

function nonNegativeInt(field: string, value: unknown): number {
  return positiveInt(field, value, 0)
}

function stringOr(field: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || value.length === 0) throw new OptionsError(field, 'expected a non-empty string')
  return value
}

function stringArray(field: string, value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new OptionsError(field, 'expected an array of strings')
  }
  return [...value]
}

function stringRecord(field: string, value: unknown): Record<string, string> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OptionsError(field, 'expected an object of string values')
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new OptionsError(`${field}.${k}`, `expected a string, got ${typeof v}`)
  }
  return { ...(value as Record<string, string>) }
}

/**
 * Target selectors: which instances a broadcastEval / send / request reaches. Criteria combine
 * with AND; no criteria means every instance. Results come back one entry per instance.
 */
import { NoTargetError } from '../errors.js'
import { shardForGuild } from '../manager/shard-plan.js'
import type { WireError } from './values.js'

export interface TargetOptions {
  shard?: number | number[]
  instance?: number | number[]
  machine?: string | string[]
  guildId?: string | bigint
  /** Every instance (for send/request, where no selector means the manager). */
  all?: boolean
}

/** A selector as it travels: plain arrays, guild already turned into its shard. */
export interface Target {
  shards?: number[]
  instances?: number[]
  machines?: string[]
}

export interface FanoutEntry {
  instance: number
  machine: string
  shards: number[]
  ok: boolean
  /** Encoded value (see values.ts), when ok. */
  value?: unknown
  error?: WireError
}

export function toTarget(opts: TargetOptions | undefined, totalShards: number): Target {
  const target: Target = {}
  if (!opts) return target
  const shards = opts.shard === undefined ? [] : ([] as number[]).concat(opts.shard)
  if (opts.guildId !== undefined) shards.push(shardForGuild(opts.guildId, totalShards))
  if (shards.length > 0) target.shards = shards
  if (opts.instance !== undefined) target.instances = ([] as number[]).concat(opts.instance)
  if (opts.machine !== undefined) target.machines = ([] as string[]).concat(opts.machine)
  return target
}

export function hasSelector(opts: TargetOptions | undefined): boolean {
  if (!opts) return false
  return Boolean(opts.all) || opts.shard !== undefined || opts.instance !== undefined || opts.machine !== undefined || opts.guildId !== undefined
}

/** Whether the caller asked for exactly one shard / guild / instance, so it gets a single value back (discord.js does this). */
export function wantsSingle(opts: TargetOptions | undefined): boolean {
  if (!opts) return false
  return typeof opts.shard === 'number' || opts.guildId !== undefined || typeof opts.instance === 'number'
}

export interface Endpoint {
  machine: string
  instances: number[]
  shards: number[]
}

/**
 * Every part, or, as soon as one fails, that one alone: a caller without allowPartial rejects on the
 * first failure anyway (as discord.js's Promise.all does), so it need not wait for the slowest part.
 * The other parts run on; what they answer is dropped.
 */
export function allUnlessOneFails<T>(parts: Promise<T>[], failed: (part: T) => boolean): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const check = (part: T): void => {
      if (failed(part)) resolve([part])
    }
    for (const p of parts) p.then(check, reject)
    Promise.all(parts).then(resolve, reject)
  })
}

export function matches(endpoint: Endpoint, target: Target): boolean {
  if (target.machines && !target.machines.includes(endpoint.machine)) return false
  if (target.instances && !target.instances.some((i) => endpoint.instances.includes(i))) return false
  if (target.shards && !target.shards.some((s) => endpoint.shards.includes(s))) return false
  return true
}

export function describeTarget(target: Target): string {
  const parts: string[] = []
  if (target.shards) parts.push(`shard ${target.shards.join(',')}`)
  if (target.instances) parts.push(`instance ${target.instances.join(',')}`)
  if (target.machines) parts.push(`machine ${target.machines.join(',')}`)
  return parts.length ? parts.join(' and ') : 'all instances'
}

export function noTarget(target: Target): NoTargetError {
  return new NoTargetError(`no running instance matches ${describeTarget(target)}`)
}

/**
 * Validation of the CLI's flags, kept free of commander and of processes so it can be tested
 * directly. Every problem becomes one CliUsageError whose message names the flag.
 */
import { existsSync, statSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { OptionsError } from '../errors.js'

/** A bad flag or flag combination; the message is one line that starts with the flag. */
export class CliUsageError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag}: ${message}`)
    this.name = 'CliUsageError'
  }
}

export const DEMO_DEFAULTS = {
  shards: 16,
  shardsPerInstance: 4,
  mode: 'processes',
  guilds: 400,
  maxConcurrency: 4,
  windowMs: 5000,
  marginMs: 250,
  bot: 'opted-in',
} as const

/** The demo refuses to start more processes / workers than this on one machine. */
export const DEMO_MAX_INSTANCES = 64
/** The simulator's (and Discord's) guilds-per-shard limit: more closes the session with 4011. */
export const MAX_GUILDS_PER_SHARD = 2500

export type DemoBotKind = 'opted-in' | 'unmodified' | 'file'

/** Flags of `discordoo demo` as commander hands them over (strings, or the numeric defaults). */
export interface DemoFlags {
  shards?: string | number
  shardsPerInstance?: string | number
  mode?: string
  guilds?: string | number
  maxConcurrency?: string | number
  duration?: string | number
  bot?: string
  windowMs?: string | number
  marginMs?: string | number
  verbose?: boolean
}

export interface DemoOptions {
  shards: number
  shardsPerInstance: number
  /** ceil(shards / shardsPerInstance). */
  instances: number
  mode: 'processes' | 'workers'
  guilds: number
  maxConcurrency: number
  /** null: run until Ctrl-C / SIGTERM. */
  durationMs: number | null
  bot: { kind: DemoBotKind; file: string }
  windowMs: number
  marginMs: number
  verbose: boolean
}

/** Where the built-in bots live, relative to the package root. */
export const DEMO_BOTS: Record<Exclude<DemoBotKind, 'file'>, string> = {
  'opted-in': 'examples/bots/discordjs-bot.mjs',
  unmodified: 'examples/bots/discordjs-unmodified.mjs',
}

/** Parses a whole number flag; `min`/`max` are inclusive. */
export function integerFlag(flag: string, value: string | number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  const text = String(value).trim()
  const n = typeof value === 'number' ? value : /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(n)) throw new CliUsageError(flag, `must be a whole number, got ${JSON.stringify(String(value))}`)
  if (n < min || n > max) throw new CliUsageError(flag, `must be between ${min} and ${max}, got ${n}`)
  return n
}

/** Parses a positive decimal number of seconds into milliseconds. */
export function secondsFlag(flag: string, value: string | number | undefined, maxSeconds: number): number | null {
  if (value === undefined) return null
  const text = String(value).trim()
  const n = typeof value === 'number' ? value : /^\d+(\.\d+)?$|^\.\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isFinite(n)) throw new CliUsageError(flag, `must be a number of seconds, got ${JSON.stringify(String(value))}`)
  if (n <= 0 || n > maxSeconds) throw new CliUsageError(flag, `must be more than 0 and at most ${maxSeconds} seconds, got ${n}`)
  return Math.round(n * 1000)
}

export function modeFlag(value: string | undefined): 'processes' | 'workers' {
  const mode = (value ?? DEMO_DEFAULTS.mode).trim().toLowerCase()
  if (mode === 'processes' || mode === 'process') return 'processes'
  if (mode === 'workers' || mode === 'worker') return 'workers'
  throw new CliUsageError('--mode', `must be 'processes' or 'workers', got ${JSON.stringify(value)}`)
}

/** `opted-in`, `unmodified` (the example discord.js bots) or the path of your own client file. */
export function botFlag(value: string | undefined, packageRoot: string, cwd = process.cwd()): { kind: DemoBotKind; file: string } {
  const bot = (value ?? DEMO_DEFAULTS.bot).trim()
  if (bot === 'opted-in' || bot === 'unmodified') {
    const file = resolve(packageRoot, DEMO_BOTS[bot])
    if (!existsSync(file)) throw new CliUsageError('--bot', `the example bot ${DEMO_BOTS[bot]} is missing from ${packageRoot}`)
    return { kind: bot, file }
  }
  const file = isAbsolute(bot) ? bot : resolve(cwd, bot)
  if (!/\.(m|c)?js$/.test(file)) {
    throw new CliUsageError('--bot', `must be 'opted-in', 'unmodified' or the path of a .js/.mjs/.cjs client file, got ${JSON.stringify(bot)}`)
  }
  if (!existsSync(file) || !statSync(file).isFile()) throw new CliUsageError('--bot', `no such file: ${file}`)
  return { kind: 'file', file }
}

/** Checks every demo flag and their combinations; throws CliUsageError on the first problem. */
export function resolveDemoOptions(flags: DemoFlags, packageRoot: string, cwd = process.cwd()): DemoOptions {
  const shards = integerFlag('--shards', flags.shards, DEMO_DEFAULTS.shards, 1, 1024)
  const shardsPerInstance = integerFlag('--shards-per-instance', flags.shardsPerInstance, DEMO_DEFAULTS.shardsPerInstance, 1, 1024)
  const instances = Math.ceil(shards / shardsPerInstance)
  if (instances > DEMO_MAX_INSTANCES) {
    throw new CliUsageError(
      '--shards-per-instance',
      `${shards} shards at ${shardsPerInstance} per instance would start ${instances} instances; the demo starts at most ${DEMO_MAX_INSTANCES} (raise --shards-per-instance)`,
    )
  }
  const guilds = integerFlag('--guilds', flags.guilds, DEMO_DEFAULTS.guilds, 0, 1_000_000)
  if (Math.ceil(guilds / shards) > MAX_GUILDS_PER_SHARD) {
    throw new CliUsageError('--guilds', `${guilds} guilds on ${shards} shards is more than ${MAX_GUILDS_PER_SHARD} per shard; Discord closes such sessions with 4011 (add shards)`)
  }
  return {
    shards,
    shardsPerInstance,
    instances,
    mode: modeFlag(flags.mode),
    guilds,
    maxConcurrency: integerFlag('--max-concurrency', flags.maxConcurrency, DEMO_DEFAULTS.maxConcurrency, 1, 1024),
    durationMs: secondsFlag('--duration', flags.duration, 86_400),
    bot: botFlag(flags.bot, packageRoot, cwd),
    windowMs: integerFlag('--window-ms', flags.windowMs, DEMO_DEFAULTS.windowMs, 0, 60_000),
    marginMs: integerFlag('--margin-ms', flags.marginMs, DEMO_DEFAULTS.marginMs, 0, 10_000),
    verbose: Boolean(flags.verbose),
  }
}

/** Simulator option names whose flag is not simply their kebab-case form. */
const SIMULATOR_FLAGS: Record<string, string> = {
  recommendedShards: '--shards',
  sessionStartLimit: '--session-limit',
  tokens: '--token',
  adminHttp: '--admin-any-host',
}

/** `maxConcurrency` → `--max-concurrency` (the simulator reports errors by option name). */
export function flagOfField(field: string, special: Record<string, string> = SIMULATOR_FLAGS): string {
  const top = field.split(/[.[]/)[0]
  return special[top] ?? `--${top.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** An OptionsError from the simulator or the manager, rephrased with the flag's name. */
export function usageErrorFrom(err: unknown): CliUsageError | null {
  if (err instanceof CliUsageError) return err
  if (err instanceof OptionsError) {
    const prefix = `${err.field}: `
    return new CliUsageError(flagOfField(err.field), err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message)
  }
  return null
}

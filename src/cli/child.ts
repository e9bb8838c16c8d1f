/**
 * `discordoo-child`: starts a child manager in standby on a server, waiting for its parent.
 *   discordoo-child --host 10.0.18.1 --file ./bot.js --cert child.pem --key child.key --trust parent.pem
 * Every error is one line naming the flag (or the --config field) and a non-zero exit; SIGTERM /
 * SIGINT stop the shards first.
 */
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { Command, Option } from 'commander'
import { DEFAULT_CHILD_PORT } from '../constants.js'
import { OptionsError } from '../errors.js'
import { ShardingManager } from '../manager/ShardingManager.js'
import type { ShardingManagerOptions } from '../manager/options.js'
import { configureProgram, oneLine, reportFailure, stdio, type ProgramOutput } from './exit.js'
import { CliUsageError } from './options.js'
import { stopSignals } from './signals.js'

export interface ChildCliConfig {
  host: string
  port: number
  file: string
  cert: string
  key: string
  trust: string[]
  dhparam?: string
  udp?: boolean
  verbose?: boolean
  /** The child's policy against its parent (README "Threat model"). */
  allowEnv?: string[]
  allowExecArgv?: string[]
  eval?: boolean
  parent?: string
  anyParent?: boolean
  maxShards?: number
  maxInstances?: number
}

/** The fields of --config, which are also the flags' names (camelCase of the flag). */
const CONFIG_FIELDS = ['host', 'port', 'file', 'cert', 'key', 'trust', 'dhparam', 'udp', 'verbose', 'allowEnv', 'allowExecArgv', 'eval', 'parent', 'anyParent', 'maxShards', 'maxInstances'] as const
type ConfigField = (typeof CONFIG_FIELDS)[number]
/** Fields holding a path: relative paths in --config are relative to the config file. */
const PATH_FIELDS = new Set<ConfigField>(['file', 'cert', 'key', 'trust', 'dhparam'])

/** The flag of a config field: `allowEnv` → `--allow-env`; `eval` is set off with `--no-eval`. */
function flagOf(field: ConfigField): string {
  return field === 'eval' ? '--no-eval' : `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** Which config field each manager option comes from, so errors name what the user typed. */
const FIELD_OF_OPTION: [RegExp, ConfigField][] = [
  [/^machines\.tls\.public/, 'cert'],
  [/^machines\.tls\.private/, 'key'],
  [/^machines\.tls\.trustedConnections/, 'trust'],
  [/^machines\.tls\.dhparam/, 'dhparam'],
  [/^machines\.ipc\.networkHost/, 'host'],
  [/^machines\.ipc\.networkPort/, 'port'],
  [/^machines\.ipc\.udp/, 'udp'],
  [/^machines\.policy\.allowEnv/, 'allowEnv'],
  [/^machines\.policy\.allowExecArgv/, 'allowExecArgv'],
  [/^machines\.policy\.eval/, 'eval'],
  [/^machines\.policy\.parent/, 'parent'],
  [/^machines\.policy\.stickyParent/, 'anyParent'],
  [/^machines\.limits\.maxShards/, 'maxShards'],
  [/^machines\.limits\.maxInstances/, 'maxInstances'],
  [/^file/, 'file'],
]

export function buildChildProgram(output: ProgramOutput = stdio): Command {
  return configureProgram(new Command('discordoo-child'), output)
    .description('Run a discordoo-sharding child manager in standby: it waits for a parent manager to connect over mutual TLS and assign it a shard range.')
    .addOption(new Option('--host <ip>', 'IP address to listen on (IPv4 or IPv6), e.g. 10.0.18.1 or ::1'))
    .addOption(new Option('--port <port>', `TCP port to listen on (also the UDP port with --udp) (default: ${DEFAULT_CHILD_PORT})`))
    .addOption(new Option('--file <path>', 'the bot client file every instance runs'))
    .addOption(new Option('--cert <pem>', "this machine's certificate (PEM); the parent lists it in its trustedConnections"))
    .addOption(new Option('--key <pem>', "this machine's private key (PEM)"))
    .addOption(new Option('--trust <pem>', 'a parent certificate to trust (repeat for several; a file may hold several PEMs)').argParser(collect))
    .addOption(new Option('--dhparam <pem>', 'accepted for compatibility; a no-op under TLS 1.3'))
    .addOption(new Option('--udp', 'also accept encrypted UDP for messages when the parent asks (TLS stays the control link)'))
    .addOption(new Option('--allow-env <name>', 'an environment variable the parent may set for the instances (repeat; given, only these)').argParser(collect))
    .addOption(new Option('--allow-exec-argv <flag>', "a Node flag the parent may set besides the safe ones (repeat; '*' = any)").argParser(collect))
    .addOption(new Option('--no-eval', 'refuse code sent as text (broadcastEval) from the parent; typed requests still work'))
    .addOption(new Option('--parent <fingerprint|pem>', 'the only parent certificate that may attach (its SHA-256 fingerprint or PEM file)'))
    .addOption(new Option('--any-parent', 'let another trusted parent take over a running pool (default: the pool belongs to the parent that assigned it)'))
    .addOption(new Option('--max-shards <n>', 'the most shards a parent may assign (default 4096)'))
    .addOption(new Option('--max-instances <n>', 'the most instances a parent may assign (default 1024)'))
    .addOption(new Option('--config <json>', `a JSON file with the same fields in camelCase: { ${CONFIG_FIELDS.join(', ')} }; relative paths in it are relative to the file; flags win`))
    .addOption(new Option('--verbose', 'print debug lines'))
    .addHelpText(
      'after',
      [
        '',
        'The bot instances inherit this process\'s environment: set DISCORD_TOKEN here (the parent never sends it).',
        '',
        'Examples:',
        '  discordoo-child --host 10.0.18.1 --file ./bot.js --cert child-1.pem --key child-1.key --trust parent.pem',
        '  discordoo-child --config /srv/bot/child.json',
      ].join('\n'),
    )
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** Reads a --config JSON file into its fields; every problem names the file and the field. */
function readConfigFile(path: string): Partial<Record<ConfigField, unknown>> {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new CliUsageError('--config', `cannot read ${path}: ${oneLine(err)}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CliUsageError('--config', `${path} must hold a JSON object like { "host": "10.0.18.1", "file": "./bot.js", ... }`)
  const known = new Set<string>(CONFIG_FIELDS)
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new CliUsageError(`--config ${path}: ${key}`, `unknown field; the fields are ${CONFIG_FIELDS.join(', ')}`)
  }
  const base = dirname(resolve(path))
  const fields = { ...(raw as Record<ConfigField, unknown>) }
  const fromDir = (p: unknown) => (typeof p === 'string' && p.length > 0 && !isAbsolute(p) ? resolve(base, p) : p)
  if (typeof fields.parent === 'string' && /\.(pem|crt|cer)$/i.test(fields.parent)) fields.parent = fromDir(fields.parent)
  for (const key of PATH_FIELDS) {
    if (fields[key] === undefined) continue
    // A single trusted certificate may be written as a string.
    if (key === 'trust' && typeof fields.trust === 'string') fields.trust = [fields.trust]
    fields[key] = Array.isArray(fields[key]) ? (fields[key] as unknown[]).map(fromDir) : fromDir(fields[key])
  }
  return fields
}

/** Where each resolved field came from, so an error can name the flag or the --config field. */
export type FieldSource = (field: ConfigField) => string

/** Merges --config and flags (flags win) and checks what must be present. */
export function resolveChildConfig(flags: Record<string, unknown>, defaulted: ReadonlySet<string> = new Set()): { config: ChildCliConfig; nameOf: FieldSource } {
  const configPath = typeof flags.config === 'string' ? flags.config : null
  const fromFile = configPath ? readConfigFile(configPath) : {}
  const merged: Partial<Record<ConfigField, unknown>> = { ...fromFile }
  const fromFlags = new Set<ConfigField>()
  for (const key of CONFIG_FIELDS) {
    if (flags[key] !== undefined && !defaulted.has(key)) {
      merged[key] = flags[key]
      fromFlags.add(key)
    }
  }
  const nameOf: FieldSource = (key) => (fromFlags.has(key) || !configPath || fromFile[key] === undefined ? flagOf(key) : `--config ${configPath}: ${key}`)

  for (const key of ['host', 'file', 'cert', 'key'] as const) {
    if (merged[key] === undefined) throw new CliUsageError(`--${key}`, `is required (or set "${key}" in --config)`)
    if (typeof merged[key] !== 'string' || merged[key].length === 0) throw new CliUsageError(nameOf(key), `expected a non-empty string, got ${JSON.stringify(merged[key])}`)
  }
  const trust = merged.trust
  if (trust === undefined || (Array.isArray(trust) && trust.length === 0)) {
    throw new CliUsageError('--trust', 'is required: the certificate of the parent allowed to connect (or set "trust" in --config)')
  }
  if (!Array.isArray(trust) || trust.some((t) => typeof t !== 'string' || t.length === 0)) {
    throw new CliUsageError(nameOf('trust'), `expected a path or a list of paths to PEM files, got ${JSON.stringify(trust)}`)
  }
  const portText = merged.port ?? DEFAULT_CHILD_PORT
  const port = typeof portText === 'number' ? portText : /^\d+$/.test(String(portText).trim()) ? Number(portText) : Number.NaN
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliUsageError(nameOf('port'), `expected a port 0..65535, got ${JSON.stringify(portText)}`)
  for (const key of ['udp', 'verbose'] as const) {
    if (merged[key] !== undefined && typeof merged[key] !== 'boolean') throw new CliUsageError(nameOf(key), `expected true or false, got ${JSON.stringify(merged[key])}`)
  }
  if (merged.dhparam !== undefined && typeof merged.dhparam !== 'string') throw new CliUsageError(nameOf('dhparam'), `expected a path, got ${JSON.stringify(merged.dhparam)}`)
  for (const key of ['eval', 'anyParent'] as const) {
    if (merged[key] !== undefined && typeof merged[key] !== 'boolean') throw new CliUsageError(nameOf(key), `expected true or false, got ${JSON.stringify(merged[key])}`)
  }
  for (const key of ['allowEnv', 'allowExecArgv'] as const) {
    if (typeof merged[key] === 'string') merged[key] = [merged[key]]
    if (merged[key] !== undefined && (!Array.isArray(merged[key]) || (merged[key] as unknown[]).some((v) => typeof v !== 'string' || v.length === 0))) {
      throw new CliUsageError(nameOf(key), `expected a list of names, got ${JSON.stringify(merged[key])}`)
    }
  }
  const limits: Partial<Record<'maxShards' | 'maxInstances', number>> = {}
  for (const key of ['maxShards', 'maxInstances'] as const) {
    const v = merged[key]
    if (v === undefined) continue
    const n = typeof v === 'number' ? v : /^\d+$/.test(String(v).trim()) ? Number(v) : Number.NaN
    if (!Number.isSafeInteger(n) || n < 1) throw new CliUsageError(nameOf(key), `expected a whole number ≥ 1, got ${JSON.stringify(v)}`)
    limits[key] = n
  }
  if (merged.parent !== undefined && (typeof merged.parent !== 'string' || merged.parent.length === 0)) throw new CliUsageError(nameOf('parent'), `expected a fingerprint or a PEM file, got ${JSON.stringify(merged.parent)}`)
  const config: ChildCliConfig = {
    host: merged.host as string,
    port,
    file: merged.file as string,
    cert: merged.cert as string,
    key: merged.key as string,
    trust: trust as string[],
    ...(merged.dhparam ? { dhparam: merged.dhparam as string } : {}),
    ...(merged.udp ? { udp: true } : {}),
    ...(merged.verbose ? { verbose: true } : {}),
    ...(merged.allowEnv ? { allowEnv: merged.allowEnv as string[] } : {}),
    ...(merged.allowExecArgv ? { allowExecArgv: merged.allowExecArgv as string[] } : {}),
    ...(merged.eval === false ? { eval: false } : {}),
    ...(merged.parent ? { parent: merged.parent as string } : {}),
    ...(merged.anyParent ? { anyParent: true } : {}),
    ...limits,
  }
  return { config, nameOf }
}

export function childManagerOptions(c: ChildCliConfig): ShardingManagerOptions {
  const policy = {
    ...(c.allowEnv ? { allowEnv: c.allowEnv } : {}),
    ...(c.allowExecArgv ? { allowExecArgv: c.allowExecArgv } : {}),
    ...(c.eval === false ? { eval: false } : {}),
    ...(c.parent ? { parent: c.parent } : {}),
    ...(c.anyParent ? { stickyParent: false } : {}),
  }
  const limits = { ...(c.maxShards ? { maxShards: c.maxShards } : {}), ...(c.maxInstances ? { maxInstances: c.maxInstances } : {}) }
  return {
    file: c.file,
    mode: 'machines',
    machines: {
      me: 'child',
      ipc: { networkHost: c.host, networkPort: c.port, ...(c.udp ? { udp: true } : {}) },
      tls: { public: c.cert, private: c.key, trustedConnections: c.trust, ...(c.dhparam ? { dhparam: c.dhparam } : {}) },
      ...(Object.keys(policy).length > 0 ? { policy } : {}),
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
    },
  }
}

/** A manager OptionsError rephrased with the flag (or --config field) it came from. */
function asUsageError(err: unknown, nameOf: FieldSource): unknown {
  if (!(err instanceof OptionsError)) return err
  const field = FIELD_OF_OPTION.find(([re]) => re.test(err.field))?.[1]
  if (!field) return err
  return new CliUsageError(nameOf(field), err.message.slice(err.field.length + 2))
}

/**
 * Parses argv, starts the child and serves until SIGINT / SIGTERM, then stops the shards.
 * Resolves with the process's exit code; never throws.
 */
export async function childMain(argv: string[], output: ProgramOutput = stdio): Promise<number> {
  const prefix = 'discordoo-child'
  let signals: ReturnType<typeof stopSignals> | null = null
  try {
    const program = buildChildProgram(output)
    program.parse(argv, { from: 'user' })
    const defaulted = new Set(program.options.map((o) => o.attributeName()).filter((name) => program.getOptionValueSource(name) === 'default'))
    const { config, nameOf } = resolveChildConfig(program.opts(), defaulted)
    let manager: ShardingManager
    try {
      manager = new ShardingManager(childManagerOptions(config))
    } catch (err) {
      throw asUsageError(err, nameOf)
    }
    const out = (line: string) => output.writeOut(`${new Date().toISOString()} ${line}\n`)
    wireChildEvents(manager, config, out)
    // Before start(): a signal that arrives while it is starting must stop it cleanly too.
    signals = stopSignals((signal) => {
      output.writeErr(`${prefix}: ${signal} again: exiting now; the instances exit with this process\n`)
      process.exit(130)
    })
    const stopped = signals.first.then(async (signal) => {
      out(`${signal}: stopping the shards`)
      await manager.stop()
      out('stopped')
    })
    try {
      await Promise.race([manager.start(), stopped])
    } catch (err) {
      await manager.stop().catch(() => {})
      throw asUsageError(err, nameOf)
    }
    if (!process.env.DISCORD_TOKEN) out('note: DISCORD_TOKEN is not set here; bots that log in with process.env.DISCORD_TOKEN need it in this environment (the parent never sends the token)')
    await stopped
    return 0
  } catch (err) {
    return reportFailure(prefix, err, output)
  } finally {
    signals?.dispose()
  }
}

function wireChildEvents(manager: ShardingManager, config: ChildCliConfig, out: (line: string) => void): void {
  manager.on('listening', ({ port }: { port: number }) => out(`listening on ${config.host}:${port}, waiting for a parent`))
  manager.on('instanceReady', (i) => out(`instance ${i.id} ready (shards ${i.shards.join(',')})`))
  manager.on('instanceDeath', (i) => out(i.reason === 'stopped' ? `instance ${i.id} stopped` : `instance ${i.id} died: ${i.reason}`))
  manager.on('instanceGaveUp', (i) => out(`instance ${i.id} gave up: ${i.error?.message ?? i.reason}`))
  manager.on('machineError', (e) => out(`refused ${e.address ?? 'a connection'}: ${e.reason}${e.code && !String(e.reason).includes(e.code) ? ` (${e.code})` : ''}`))
  manager.on('error', (e) => out(`error: ${oneLine(e)}`))
  manager.on('debug', (d: string) => {
    if (config.verbose || /attached|assigned|link down/.test(d)) out(d)
  })
}

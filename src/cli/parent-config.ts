/**
 * The JSON file of `discordoo parent --config parent.json`: a MACHINES parent's options without code.
 * Its fields are the ShardingManager options of a parent, with `machines.points` / `tls` / `link`
 * lifted to the top, plus `metrics`. Relative paths are relative to the file. Every problem is a
 * CliUsageError naming the file and the field (`parent.json: points[1].tls.public: no such file ...`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { OptionsError } from '../errors.js'
import type { ShardingManagerOptions } from '../manager/options.js'
import type { MachinePoint, TlsFilesOptions } from '../machines/options.js'
import { oneLine } from './exit.js'
import { CliUsageError } from './options.js'

export interface ParentConfigFile {
  points: MachinePoint[]
  tls?: TlsFilesOptions
  link?: Record<string, number>
  /** Prefer the DISCORD_TOKEN environment variable; a token here is used only when it is unset. */
  token?: string
  api?: string
  totalShards?: number
  identify?: ShardingManagerOptions['identify']
  env?: Record<string, string>
  execArgv?: string[]
  semiSpaceGrowthFactor?: number | null
  holdOptimizerDuringImports?: boolean
  deferSmallFunctionOptimization?: boolean
  args?: string[]
  respawn?: boolean
  restarts?: ShardingManagerOptions['restarts']
  timeouts?: ShardingManagerOptions['timeouts']
  /** Serve /metrics, /healthz and /status here. */
  metrics?: { port: number; host?: string }
  verbose?: boolean
}

/** Top-level fields, in the order the README documents them. */
export const PARENT_FIELDS = ['points', 'tls', 'link', 'token', 'api', 'totalShards', 'identify', 'env', 'execArgv', 'semiSpaceGrowthFactor', 'holdOptimizerDuringImports', 'deferSmallFunctionOptimization', 'args', 'respawn', 'restarts', 'timeouts', 'metrics', 'verbose'] as const
const POINT_FIELDS = new Set(['host', 'port', 'id', 'udp', 'childManagerOptions', 'tls'])
const TLS_FIELDS = new Set(['public', 'private', 'trustedConnections', 'dhparam', 'rejectUnauthorized'])

export interface ResolvedParentConfig {
  /** The config file as given (for messages). */
  path: string
  manager: ShardingManagerOptions
  metrics: { port: number; host: string } | null
  /** Where the token came from, for the start-up line (never the token itself). */
  tokenFrom: 'DISCORD_TOKEN' | 'config' | null
  verbose: boolean
  /** How many child machines the file lists. */
  machines: number
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Checks a tls block's fields and makes its paths absolute (relative to the file's folder). */
function resolveTlsPaths(tls: unknown, field: string, base: string, fail: (field: string, message: string) => never): TlsFilesOptions {
  if (!isObject(tls)) fail(field, 'expected { "public": "parent.pem", "private": "parent.key", "trustedConnections": ["child-1.pem"] }')
  for (const key of Object.keys(tls)) if (!TLS_FIELDS.has(key)) fail(`${field}.${key}`, `unknown field; the fields are ${[...TLS_FIELDS].join(', ')}`)
  const file = (value: unknown, f: string): string => {
    if (typeof value !== 'string' || value.length === 0) fail(f, `expected the path of a PEM file, got ${JSON.stringify(value)}`)
    const path = isAbsolute(value) ? value : resolve(base, value)
    if (!existsSync(path)) fail(f, `no such file: ${path}`)
    if (!statSync(path).isFile()) fail(f, `not a file: ${path}`)
    return path
  }
  const out: TlsFilesOptions = { ...(tls as unknown as TlsFilesOptions) }
  if (tls.public === undefined) fail(`${field}.public`, "is required: this parent's certificate (PEM)")
  if (tls.private === undefined) fail(`${field}.private`, "is required: this parent's private key (PEM)")
  out.public = file(tls.public, `${field}.public`)
  out.private = file(tls.private, `${field}.private`)
  const trusted = typeof tls.trustedConnections === 'string' ? [tls.trustedConnections] : tls.trustedConnections
  if (!Array.isArray(trusted) || trusted.length === 0) fail(`${field}.trustedConnections`, 'is required: the child certificates this parent accepts (a list of PEM files)')
  out.trustedConnections = trusted.map((t, i) => file(t, `${field}.trustedConnections[${i}]`))
  if (tls.dhparam !== undefined) out.dhparam = file(tls.dhparam, `${field}.dhparam`)
  return out
}

/**
 * Reads and checks the file. The manager checks the rest (types, ranges, overlaps) when it is
 * constructed; `managerError` turns its errors into the file's field names.
 */
export function readParentConfig(path: string, env: NodeJS.ProcessEnv = process.env): ResolvedParentConfig {
  function fail(field: string, message: string): never {
    throw new CliUsageError(`${path}: ${field}`, message)
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new CliUsageError('--config', `cannot read ${path}: ${oneLine(err)}`)
  }
  if (!isObject(raw)) throw new CliUsageError('--config', `${path} must hold a JSON object: { "points": [...], "tls": {...} }`)
  const known = new Set<string>(PARENT_FIELDS)
  for (const key of Object.keys(raw)) if (!known.has(key)) fail(key, `unknown field; the fields are ${PARENT_FIELDS.join(', ')}`)
  const base = dirname(resolve(path))

  if (!Array.isArray(raw.points) || raw.points.length === 0) fail('points', 'is required: one contact point per child machine, e.g. [{ "host": "10.0.18.1", "childManagerOptions": { "mode": "processes", "shards": { "from": 0, "to": 127 } } }]')
  const tls = raw.tls === undefined ? undefined : resolveTlsPaths(raw.tls, 'tls', base, fail)
  const points = (raw.points as unknown[]).map((p, i): MachinePoint => {
    if (!isObject(p)) return fail(`points[${i}]`, 'expected an object like { "host": "10.0.18.1", "childManagerOptions": { ... } }')
    for (const key of Object.keys(p)) if (!POINT_FIELDS.has(key)) fail(`points[${i}].${key}`, `unknown field; the fields are ${[...POINT_FIELDS].join(', ')}`)
    if (p.tls === undefined && tls === undefined) fail(`points[${i}].tls`, 'is required when there is no top-level "tls"')
    return { ...(p as unknown as MachinePoint), ...(p.tls !== undefined ? { tls: resolveTlsPaths(p.tls, `points[${i}].tls`, base, fail) } : {}) }
  })

  let metrics: ResolvedParentConfig['metrics'] = null
  if (raw.metrics !== undefined) {
    const m = raw.metrics
    if (!isObject(m)) fail('metrics', 'expected { "port": 9100, "host": "127.0.0.1" }')
    for (const key of Object.keys(m)) if (key !== 'port' && key !== 'host') fail(`metrics.${key}`, 'unknown field; the fields are port, host')
    if (typeof m.port !== 'number' || !Number.isInteger(m.port) || m.port < 0 || m.port > 65535) fail('metrics.port', `expected a TCP port 0..65535, got ${JSON.stringify(m.port)}`)
    if (m.host !== undefined && (typeof m.host !== 'string' || m.host.length === 0)) fail('metrics.host', `expected an address to bind, e.g. "127.0.0.1" or "0.0.0.0", got ${JSON.stringify(m.host)}`)
    metrics = { port: m.port as number, host: (m.host as string | undefined) ?? '127.0.0.1' }
  }
  if (raw.verbose !== undefined && typeof raw.verbose !== 'boolean') fail('verbose', `expected true or false, got ${JSON.stringify(raw.verbose)}`)

  const envToken = env.DISCORD_TOKEN && env.DISCORD_TOKEN.length > 0 ? env.DISCORD_TOKEN : null
  if (raw.token !== undefined && (typeof raw.token !== 'string' || raw.token.length === 0)) fail('token', 'expected a non-empty string (or leave it out and set DISCORD_TOKEN)')
  const token = envToken ?? (raw.token as string | undefined) ?? null

  const passthrough = ['api', 'totalShards', 'identify', 'env', 'execArgv', 'semiSpaceGrowthFactor', 'holdOptimizerDuringImports', 'deferSmallFunctionOptimization', 'args', 'respawn', 'restarts', 'timeouts'] as const
  const manager: ShardingManagerOptions = {
    mode: 'machines',
    ...Object.fromEntries(passthrough.filter((k) => raw[k] !== undefined).map((k) => [k, raw[k]])),
    ...(token ? { token } : {}),
    machines: {
      me: 'parent',
      points,
      ...(tls ? { tls } : {}),
      ...(raw.link !== undefined ? { link: raw.link as Record<string, number> } : {}),
    },
  }
  return { path, manager, metrics, tokenFrom: envToken ? 'DISCORD_TOKEN' : token ? 'config' : null, verbose: raw.verbose === true, machines: points.length }
}

/** A manager OptionsError named as the file's field: `machines.points[1].host` → `parent.json: points[1].host`. */
export function managerError(err: unknown, path: string): unknown {
  if (!(err instanceof OptionsError)) {
    // A few checks raise a plain INVALID_OPTION ShardingError whose message starts with the field.
    const m = /^([a-zA-Z][\w.[\]]*): (.*)$/.exec((err as Error)?.message ?? '')
    if ((err as { code?: string })?.code === 'INVALID_OPTION' && m) return new CliUsageError(`${path}: ${m[1].replace(/^machines\./, '')}`, m[2])
    return err
  }
  const field = err.field.replace(/^machines\./, '')
  return new CliUsageError(`${path}: ${field}`, err.message.slice(err.field.length + 2))
}

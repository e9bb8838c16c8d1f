/**
 * Options of MACHINES mode, written like the seed documentation: a child in standby
 * (`me: 'child'`, `ipc: { networkHost, networkPort }`, `tls`) or a parent with contact `points`.
 * Links are always mutual TLS, so certificates are required on both sides, and their files are
 * checked at construction (not first found missing at start()).
 */
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { isAbsolute, resolve } from 'node:path'
import { ChildShardingModes, DEFAULT_CHILD_PORT, type ChildShardingMode } from '../constants.js'
import { OptionsError } from '../errors.js'
import { arrayOf, bool, int, object, oneOf, optional, recordOf, schema, str, type Schema } from '../options/schema.js'
import type { RestartOptions, TimeoutOptions } from '../manager/options.js'
import { anyString, restartsShape, semiSpaceGrowthFactor, timeoutsShape } from '../options/common.js'
import { parseShards, type ShardsOption } from '../manager/shard-plan.js'
import { fingerprintOf } from '../net/trust.js'
import { DEFAULT_ASSIGNMENT_LIMITS, type AssignmentLimits } from './limits.js'
import { DEFAULT_POLICY, normalizeFingerprint, SAFE_EXEC_ARGV, type ChildPolicy } from './policy.js'

export interface TlsFilesOptions {
  /** Path to this side's certificate (PEM). */
  public: string
  /** Path to this side's private key (PEM). */
  private: string
  /** Accepted for compatibility; a no-op under TLS 1.3. */
  dhparam?: string
  /** Child only; must stay true (mutual TLS). */
  requestCert?: boolean
  /** Must stay true unless debugging; even when false, peers must be pinned in trustedConnections. */
  rejectUnauthorized?: boolean
  /** Paths to the peer certificates this side trusts (a file may hold several PEMs). */
  trustedConnections?: string[]
}

export interface ChildManagerOptions {
  mode: ChildShardingMode | Uppercase<ChildShardingMode> | string
  shards: ShardsOption
  shardsPerInstance?: number
  env?: Record<string, string>
  execArgv?: string[]
  /** The child's `semiSpaceGrowthFactor` (PROCESSES mode on that machine); default: the parent's. */
  semiSpaceGrowthFactor?: number | null
  /** The child's `holdOptimizerDuringImports`; default: the parent's. */
  holdOptimizerDuringImports?: boolean
  /** The child's `deferSmallFunctionOptimization` (WORKERS mode on that machine); default: the parent's. */
  deferSmallFunctionOptimization?: boolean
  args?: string[]
  respawn?: boolean
  restarts?: RestartOptions
  timeouts?: TimeoutOptions
}

export interface MachinePoint {
  host: string
  port?: number
  /** Carry messages over encrypted UDP (the TLS link stays as control and fallback). */
  udp?: 'udp4' | 'udp6'
  /** Name of this machine in status() and targets (default "host:port"). */
  id?: string
  /** A spare: runs nothing until a machine is lost, then takes over its range (needs no childManagerOptions). */
  spare?: boolean
  childManagerOptions?: ChildManagerOptions
  tls?: TlsFilesOptions
}

/** Advanced: link timings (both roles). */
export interface LinkTuning {
  /** PING period, ms (default 5000). */
  heartbeatInterval?: number
  /** Silence after which a link is dead, ms (default 15000). */
  heartbeatTimeout?: number
  /** Parent: first reconnect delay cap, ms (default 1000; doubles with full jitter). */
  reconnectDelay?: number
  /** Parent: largest reconnect delay cap, ms (default 30000). */
  maxReconnectDelay?: number
  /** Largest frame accepted, bytes (default 16 MiB). */
  maxFrameBytes?: number
}

/** Child: what a trusted parent may make this child do (README "Threat model"). */
export interface ChildPolicyOptions {
  /** Environment variable names a parent may set (default: any except NODE_OPTIONS, NODE_PATH, LD_*, DYLD_*, ...). */
  allowEnv?: string[]
  /** Node flags a parent may set, added to the safe ones (--max-old-space-size, ...); '*' allows any. */
  allowExecArgv?: string[]
  /** false: refuse code sent as text (broadcastEval, discord.js _sEval) from the parent; typed requests still work. Default true. */
  eval?: boolean
  /** The only parent certificate that may attach: its SHA-256 fingerprint, or the path of its PEM file. */
  parent?: string
  /** A running pool belongs to the parent that assigned it (default true). */
  stickyParent?: boolean
}

export interface MachinesOptions {
  me: 'parent' | 'child'
  points?: MachinePoint[]
  /** Child: where to listen. `udp: true` also accepts encrypted UDP when the parent asks for it. */
  ipc?: { networkHost?: string; networkPort?: number; udp?: boolean }
  tls?: TlsFilesOptions
  link?: LinkTuning
  /** Child: what a trusted parent may make it do. */
  policy?: ChildPolicyOptions
  /** Child: the most shards and instances a parent may assign it (defaults 4096 and 1024). */
  limits?: { maxShards?: number; maxInstances?: number }
  /** Parent with spare points: move a lost machine's range to a spare after `after` ms (default 60 000). */
  failover?: { after?: number }
}

export interface ResolvedPoint {
  id: string
  host: string
  port: number
  udp: 'udp4' | 'udp6' | null
  spare: boolean
  mode: ChildShardingMode
  shards: number[]
  shardsPerInstance: number
  firstInstanceId: number
  childOptions: ChildManagerOptions
  tls: TlsFilesOptions
}

export type ResolvedMachines =
  | { me: 'parent'; points: ResolvedPoint[]; totalFromPoints: number; link: LinkTuning; failover: { after: number } }
  | { me: 'child'; host: string; port: number; udp: boolean; tls: TlsFilesOptions; link: LinkTuning; policy: ChildPolicy; limits: AssignmentLimits }

/** A file this process can read (certificates, keys, trust lists), resolved against the working directory. */
export const readableFile: Schema<string> = schema('a path to a readable file', (v, f) => {
  if (typeof v !== 'string' || v.length === 0) throw new OptionsError(f, 'is required: a path to a PEM file')
  const path = isAbsolute(v) ? v : resolve(process.cwd(), v)
  try {
    if (!statSync(path).isFile()) throw new OptionsError(f, `not a file: ${path}`)
    accessSync(path, fsConstants.R_OK)
  } catch (err) {
    if (err instanceof OptionsError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new OptionsError(f, code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path} (${code ?? (err as Error).message})`)
  }
  return v
})

const CHILD_MODES = Object.values(ChildShardingModes)
const port = int(0, 65535)

function tlsSchema(isChild: boolean): Schema<TlsFilesOptions> {
  const s = object({
    public: readableFile,
    private: readableFile,
    dhparam: optional(readableFile),
    requestCert: optional(bool()),
    rejectUnauthorized: optional(bool()),
    trustedConnections: schema<string[]>('paths to trusted certificates', (v, f) => {
      if (!Array.isArray(v) || v.length === 0) {
        throw new OptionsError(f, `is required: paths to the ${isChild ? 'parent' : 'child'} certificates this side trusts`)
      }
      return arrayOf(readableFile, 1000).parse(v, f)
    }),
  })
  return schema('{ public, private, trustedConnections }', (v, f) => {
    if (v === undefined || v === null) {
      throw new OptionsError(f, 'is required: machine links are mutual TLS only ({ public, private, trustedConnections }); see README "MACHINES mode"')
    }
    const tls = s.parse(v, f) as TlsFilesOptions
    if (isChild && tls.requestCert === false) throw new OptionsError(`${f}.requestCert`, 'cannot be false: a child must verify its parent (mutual TLS)')
    return tls
  })
}

export const linkSchema: Schema<LinkTuning> = schema('link timings', (v, f) => {
  const t = object({
    heartbeatInterval: optional(int(1)),
    heartbeatTimeout: optional(int(1)),
    reconnectDelay: optional(int(1)),
    maxReconnectDelay: optional(int(1)),
    maxFrameBytes: optional(int(1024, 2 ** 31 - 1)),
  }).parse(v, f) as LinkTuning
  const interval = t.heartbeatInterval ?? 5000
  const timeout = t.heartbeatTimeout ?? 15000
  if (timeout <= interval) throw new OptionsError(`${f}.heartbeatTimeout`, `is ${timeout} ms but ${f}.heartbeatInterval is ${interval} ms: the link would be declared dead between two PINGs; use more than the interval (3 × is usual)`)
  return t
})

const childManagerOptionsSchema = object({
  mode: oneOf(CHILD_MODES, true),
  shards: schema<unknown>('shards', (v) => v),
  shardsPerInstance: optional(int(1, 10_000), 1),
  env: optional(recordOf(anyString)),
  execArgv: optional(arrayOf(anyString, 1000)),
  semiSpaceGrowthFactor: optional(semiSpaceGrowthFactor),
  holdOptimizerDuringImports: optional(bool()),
  deferSmallFunctionOptimization: optional(bool()),
  args: optional(arrayOf(anyString, 1000)),
  respawn: optional(bool()),
  restarts: optional(object(restartsShape)),
  timeouts: optional(object(timeoutsShape)),
})

const pointSchema = object({
  host: str(255),
  port: optional(port, DEFAULT_CHILD_PORT),
  udp: optional(oneOf(['udp4', 'udp6'] as const)),
  id: optional(str(200)),
  spare: optional(bool(), false),
  childManagerOptions: optional(schema<unknown>('{ mode, shards: { from, to } }', (v, f) => childManagerOptionsSchema.parse(v, f))),
  tls: optional(schema<unknown>('tls', (v) => v)),
})

const childSchema = object({
  me: oneOf(['child'] as const),
  ipc: object({ networkHost: optional(str(255)), networkPort: optional(port, DEFAULT_CHILD_PORT), udp: optional(bool(), false) }),
  tls: tlsSchema(true),
  link: optional(linkSchema, () => ({})),
  points: optional(schema<unknown>('nothing', (v, f) => {
    throw new OptionsError(f, `is for a parent (me: 'parent'); a child gets its shards from the parent`)
  })),
  policy: optional(
    object({
      allowEnv: optional(arrayOf(str(200), 1000)),
      allowExecArgv: optional(arrayOf(str(200), 1000)),
      eval: optional(bool()),
      parent: optional(schema<string>('a fingerprint or a PEM file', (v, f) => parentFingerprint(str(4096).parse(v, f), f))),
      stickyParent: optional(bool()),
    }),
  ),
  limits: optional(object({ maxShards: optional(int(1, 1_000_000)), maxInstances: optional(int(1, 100_000)) })),
})

/** `--parent`: a SHA-256 fingerprint, or the parent's certificate file (its fingerprint is taken). */
function parentFingerprint(v: string, field: string): string {
  if (/^(sha256:)?([0-9a-f]{2}:?){32}$/i.test(v)) return normalizeFingerprint(v, field)
  const file = readableFile.parse(v, field)
  try {
    return fingerprintOf(readFileSync(file))
  } catch (err) {
    throw new OptionsError(field, `${file} is neither a SHA-256 fingerprint nor a readable PEM certificate (${(err as Error).message})`)
  }
}

const parentSchema = object({
  me: oneOf(['parent'] as const),
  points: schema<unknown[]>('contact points', (v, f) => {
    if (!Array.isArray(v) || v.length === 0) throw new OptionsError(f, 'is required on a parent: one contact point per child machine')
    return v
  }),
  tls: optional(schema<unknown>('tls', (v) => v)),
  link: optional(linkSchema, () => ({})),
  ipc: optional(schema<unknown>('nothing', (v, f) => {
    throw new OptionsError(f, "is for a child (me: 'child'); a parent connects to the points' host and port")
  })),
  failover: optional(object({ after: optional(int(1)) })),
})

export function resolveMachinesOptions(mode: string, raw: MachinesOptions | undefined): ResolvedMachines {
  if (mode !== 'machines') throw new OptionsError('machines', `only applies to mode 'machines' (mode is '${mode}'); remove it or set mode: ShardingManagerModes.MACHINES`)
  if (!raw || typeof raw !== 'object') throw new OptionsError('machines', "is required in MACHINES mode: { me: 'parent', points } or { me: 'child', ipc, tls }")
  if (raw.me === 'child') return resolveChild(raw)
  if (raw.me === 'parent') return resolveParent(raw)
  throw new OptionsError('machines.me', `expected 'parent' or 'child', got ${JSON.stringify(raw.me)}`)
}

function resolveChild(raw: MachinesOptions): ResolvedMachines {
  if (!raw.ipc || typeof raw.ipc.networkHost !== 'string' || raw.ipc.networkHost.length === 0) {
    throw new OptionsError('machines.ipc.networkHost', "is required: the IP this child listens on, e.g. '10.0.18.1' or '::1'")
  }
  const c = childSchema.parse(raw, 'machines')
  const p: ChildPolicyOptions = c.policy ?? {}
  const policy: ChildPolicy = {
    allowEnv: p.allowEnv ?? DEFAULT_POLICY.allowEnv,
    allowExecArgv: [...SAFE_EXEC_ARGV, ...(p.allowExecArgv ?? [])],
    eval: p.eval ?? DEFAULT_POLICY.eval,
    parent: p.parent ?? null,
    stickyParent: p.stickyParent ?? DEFAULT_POLICY.stickyParent,
  }
  const limits: AssignmentLimits = { ...DEFAULT_ASSIGNMENT_LIMITS, ...(c.limits ?? {}) }
  return { me: 'child', host: c.ipc.networkHost!, port: c.ipc.networkPort!, udp: c.ipc.udp!, tls: c.tls, link: c.link!, policy, limits }
}

function resolveParent(raw: MachinesOptions): ResolvedMachines {
  const p = parentSchema.parse(raw, 'machines')
  const owner = new Map<number, number>()
  const ids = new Set<string>()
  let nextInstance = 0
  const points = p.points.map((rawPoint, i): ResolvedPoint => {
    const f = `machines.points[${i}]`
    const point = pointSchema.parse(rawPoint, f)
    if (point.spare && point.childManagerOptions) throw new OptionsError(`${f}.childManagerOptions`, 'a spare runs nothing until a machine is lost (it takes over that range); remove childManagerOptions or spare')
    if (!point.spare && !point.childManagerOptions) throw new OptionsError(`${f}.childManagerOptions`, 'is required: { mode, shards: { from, to } } (or spare: true)')
    const cmo = (point.childManagerOptions ?? { mode: 'processes', shards: [], shardsPerInstance: 1 }) as ReturnType<typeof childManagerOptionsSchema.parse>
    const shards = point.spare ? [] : parseShards(`${f}.childManagerOptions.shards`, cmo.shards)
    if (shards === 'auto') throw new OptionsError(`${f}.childManagerOptions.shards`, "'auto' is not allowed for a machine; give { from, to }")
    for (const s of shards) {
      const prev = owner.get(s)
      if (prev !== undefined) {
        throw new OptionsError(`${f}.childManagerOptions.shards`, `shard ${s} is also assigned to machines.points[${prev}]; ranges must not overlap`)
      }
      owner.set(s, i)
    }
    const portNumber = point.port!
    const id = point.id ?? (isIP(point.host) === 6 ? `[${point.host}]:${portNumber}` : `${point.host}:${portNumber}`)
    if (ids.has(id)) throw new OptionsError(`${f}.id`, `machine id ${id} is used twice; give each point a distinct host:port or id`)
    ids.add(id)
    const firstInstanceId = nextInstance
    nextInstance += Math.ceil(shards.length / cmo.shardsPerInstance!)
    const tlsRaw = point.tls ?? p.tls
    const tls = tlsSchema(false).parse(tlsRaw, point.tls !== undefined ? `${f}.tls` : p.tls !== undefined ? 'machines.tls' : `${f}.tls`)
    return {
      id,
      host: point.host,
      port: portNumber,
      udp: point.udp ?? null,
      spare: point.spare!,
      mode: cmo.mode,
      shards,
      shardsPerInstance: cmo.shardsPerInstance!,
      firstInstanceId,
      childOptions: cmo as ChildManagerOptions,
      tls,
    }
  })
  if (owner.size === 0) throw new OptionsError('machines.points', 'every point is a spare; at least one point runs shards')
  return { me: 'parent', points, totalFromPoints: Math.max(...owner.keys()) + 1, link: p.link!, failover: { after: p.failover?.after ?? 60_000 } }
}

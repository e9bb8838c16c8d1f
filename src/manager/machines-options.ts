/**
 * Options of MACHINES mode, written like the seed documentation: a child in standby
 * (`me: 'child'`, `ipc: { networkHost, networkPort }`, `tls`) or a parent with contact `points`.
 * Links are always mutual TLS, so certificates are required on both sides.
 */
import { isIP } from 'node:net'
import { ChildShardingModes, DEFAULT_CHILD_PORT, type ChildShardingMode } from '../constants.js'
import { OptionsError } from '../errors.js'
import { parseShards, type ShardsOption } from './shard-plan.js'

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
  args?: string[]
  respawn?: boolean
  restarts?: Record<string, number>
  timeouts?: Record<string, number>
}

export interface MachinePoint {
  host: string
  port?: number
  /** Carry messages over encrypted UDP (the TLS link stays as control and fallback). */
  udp?: 'udp4' | 'udp6'
  /** Name of this machine in status() and targets (default "host:port"). */
  id?: string
  childManagerOptions: ChildManagerOptions
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

export interface MachinesOptions {
  me: 'parent' | 'child'
  points?: MachinePoint[]
  /** Child: where to listen. `udp: true` also accepts encrypted UDP when the parent asks for it. */
  ipc?: { networkHost?: string; networkPort?: number; udp?: boolean }
  tls?: TlsFilesOptions
  link?: LinkTuning
}

export interface ResolvedPoint {
  id: string
  host: string
  port: number
  udp: 'udp4' | 'udp6' | null
  mode: ChildShardingMode
  shards: number[]
  shardsPerInstance: number
  firstInstanceId: number
  childOptions: ChildManagerOptions
  tls: TlsFilesOptions
}

export type ResolvedMachines =
  | { me: 'parent'; points: ResolvedPoint[]; totalFromPoints: number; link: LinkTuning }
  | { me: 'child'; host: string; port: number; udp: boolean; tls: TlsFilesOptions; link: LinkTuning }

const CHILD_MODES = new Set<string>(Object.values(ChildShardingModes))

export function resolveMachinesOptions(mode: string, raw: MachinesOptions | undefined): ResolvedMachines {
  if (mode !== 'machines') throw new OptionsError('machines', `only applies to mode 'machines' (mode is '${mode}'); remove it or set mode: ShardingManagerModes.MACHINES`)
  if (!raw || typeof raw !== 'object') throw new OptionsError('machines', "is required in MACHINES mode: { me: 'parent', points } or { me: 'child', ipc, tls }")
  if (raw.me === 'child') return resolveChild(raw)
  if (raw.me === 'parent') return resolveParent(raw)
  throw new OptionsError('machines.me', `expected 'parent' or 'child', got ${JSON.stringify(raw.me)}`)
}

function resolveChild(raw: MachinesOptions): ResolvedMachines {
  const host = raw.ipc?.networkHost
  if (typeof host !== 'string' || host.length === 0) {
    throw new OptionsError('machines.ipc.networkHost', "is required: the IP this child listens on, e.g. '10.0.18.1' or '::1'")
  }
  const port = resolvePort('machines.ipc.networkPort', raw.ipc?.networkPort)
  return { me: 'child', host, port, udp: raw.ipc?.udp === true, tls: resolveTls('machines.tls', raw.tls, true), link: resolveLinkTuning(raw.link) }
}

function resolveParent(raw: MachinesOptions): ResolvedMachines {
  if (!Array.isArray(raw.points) || raw.points.length === 0) {
    throw new OptionsError('machines.points', 'is required on a parent: one contact point per child machine')
  }
  const owner = new Map<number, number>()
  const ids = new Set<string>()
  let nextInstance = 0
  const points = raw.points.map((p, i): ResolvedPoint => {
    const f = `machines.points[${i}]`
    if (typeof p?.host !== 'string' || p.host.length === 0) throw new OptionsError(`${f}.host`, 'is required: the child machine IP (IPv4 or IPv6)')
    const port = resolvePort(`${f}.port`, p.port)
    if (p.udp !== undefined && p.udp !== 'udp4' && p.udp !== 'udp6') throw new OptionsError(`${f}.udp`, `expected 'udp4' or 'udp6', got ${JSON.stringify(p.udp)}`)
    const cmo = p.childManagerOptions
    if (!cmo || typeof cmo !== 'object') throw new OptionsError(`${f}.childManagerOptions`, 'is required: { mode, shards: { from, to } }')
    const modeValue = typeof cmo.mode === 'string' ? cmo.mode.toLowerCase() : cmo.mode
    if (typeof modeValue !== 'string' || !CHILD_MODES.has(modeValue)) {
      throw new OptionsError(`${f}.childManagerOptions.mode`, `expected ChildShardingModes.PROCESSES or .WORKERS, got ${JSON.stringify(cmo.mode)}`)
    }
    const shards = parseShards(`${f}.childManagerOptions.shards`, cmo.shards)
    if (shards === 'auto') throw new OptionsError(`${f}.childManagerOptions.shards`, "'auto' is not allowed for a machine; give { from, to }")
    for (const s of shards) {
      const prev = owner.get(s)
      if (prev !== undefined) {
        throw new OptionsError(`${f}.childManagerOptions.shards`, `shard ${s} is also assigned to machines.points[${prev}]; ranges must not overlap`)
      }
      owner.set(s, i)
    }
    const perInstance = cmo.shardsPerInstance ?? 1
    if (!Number.isInteger(perInstance) || perInstance < 1) {
      throw new OptionsError(`${f}.childManagerOptions.shardsPerInstance`, `expected an integer ≥ 1, got ${JSON.stringify(perInstance)}`)
    }
    const id = p.id ?? (isIP(p.host) === 6 ? `[${p.host}]:${port}` : `${p.host}:${port}`)
    if (ids.has(id)) throw new OptionsError(`${f}.id`, `machine id ${id} is used twice; give each point a distinct host:port or id`)
    ids.add(id)
    const firstInstanceId = nextInstance
    nextInstance += Math.ceil(shards.length / perInstance)
    const tls = resolveTls(`${f}.tls`, p.tls ?? raw.tls, false)
    return { id, host: p.host, port, udp: p.udp ?? null, mode: modeValue as ChildShardingMode, shards, shardsPerInstance: perInstance, firstInstanceId, childOptions: cmo, tls }
  })
  return { me: 'parent', points, totalFromPoints: Math.max(...owner.keys()) + 1, link: resolveLinkTuning(raw.link) }
}

function resolveLinkTuning(raw: LinkTuning | undefined): LinkTuning {
  if (raw === undefined) return {}
  if (typeof raw !== 'object' || raw === null) throw new OptionsError('machines.link', 'expected an object of link timings')
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new OptionsError(`machines.link.${key}`, `expected an integer ≥ 1, got ${JSON.stringify(value)}`)
  }
  return { ...raw }
}

function resolvePort(field: string, value: unknown): number {
  if (value === undefined) return DEFAULT_CHILD_PORT
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new OptionsError(field, `expected a TCP port 0..65535, got ${JSON.stringify(value)}`)
  }
  return value
}

function resolveTls(field: string, raw: TlsFilesOptions | undefined, isChild: boolean): TlsFilesOptions {
  if (!raw || typeof raw !== 'object') {
    throw new OptionsError(field, 'is required: machine links are mutual TLS only ({ public, private, trustedConnections }); see README "MACHINES mode"')
  }
  for (const key of ['public', 'private'] as const) {
    if (typeof raw[key] !== 'string' || raw[key].length === 0) throw new OptionsError(`${field}.${key}`, 'is required: a path to a PEM file')
  }
  if (!Array.isArray(raw.trustedConnections) || raw.trustedConnections.length === 0) {
    throw new OptionsError(`${field}.trustedConnections`, `is required: paths to the ${isChild ? 'parent' : 'child'} certificates this side trusts`)
  }
  if (isChild && raw.requestCert === false) {
    throw new OptionsError(`${field}.requestCert`, 'cannot be false: a child must verify its parent (mutual TLS)')
  }
  return { ...raw }
}

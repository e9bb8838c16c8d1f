/**
 * Every message from the other side of a machine link is untrusted input, the trusted parent's
 * included: these functions check its shape completely and return typed data, or throw an error
 * that says what is wrong. Nothing acts on a message before it passed here.
 */
import { ProtocolError } from '../errors.js'
import { PROTOCOL_VERSION } from '../constants.js'
import type { Envelope } from '../ipc/envelope.js'
import type { Target } from '../ipc/targets.js'
import type { InstanceAction } from '../manager/instance-channel.js'
import { withRestartDefaults, withTimeoutDefaults } from '../manager/options.js'
import { anyString, restartsShape, semiSpaceGrowthFactor, timeoutsShape } from '../options/common.js'
import { arrayOf, bool, int, isPlainObject, object, oneOf, optional, recordOf, schema, show, str } from '../options/schema.js'
import { OptionsError } from '../errors.js'
import type { SessionInfo } from '../runtime/context.js'
import { FORWARDED_EVENTS, LinkOps, type Assignment, type ChildMessage } from './protocol.js'

import type { AssignmentLimits } from './limits.js'

/** A link message: an envelope of our protocol version, or a ProtocolError saying why not. */
export function readEnvelope(msg: unknown): Envelope {
  if (!isPlainObject(msg) || typeof msg.op !== 'string') throw new ProtocolError(`not a message of this protocol: ${show(msg)}`, 'MALFORMED_MESSAGE')
  if (msg.v !== PROTOCOL_VERSION) throw new ProtocolError(`message of protocol version ${show(msg.v)}; this side speaks ${PROTOCOL_VERSION}`, 'VERSION_MISMATCH')
  return msg as unknown as Envelope
}

const assignmentSchema = object({
  machineId: str(200),
  mode: oneOf(['processes', 'workers'] as const),
  shards: arrayOf(int(0, 1_000_000), 1_000_000),
  totalShards: int(1, 1_000_000),
  shardsPerInstance: int(1, 10_000),
  firstInstanceId: int(0, 100_000_000),
  env: recordOf(anyString, 1000),
  execArgv: arrayOf(anyString, 100),
  semiSpaceGrowthFactor: optional(semiSpaceGrowthFactor),
  holdOptimizerDuringImports: optional(bool()),
  deferSmallFunctionOptimization: optional(bool()),
  args: arrayOf(anyString, 100),
  respawn: bool(),
  restarts: object(restartsShape),
  timeouts: object(timeoutsShape),
  set: int(0, 1_000_000_000),
  active: bool(),
  sessions: arrayOf(schema('a session', (v, f) => (isSession(v) ? (v as never) : (() => { throw new OptionsError(f, 'expected { sessionId, sequence, resumeURL, shardId, shardCount }') })())), 1_000_000),
  fenceAfter: int(0),
  gateway: optional(
    object({
      api: str(2048),
      data: object({
        url: str(2048),
        shards: int(1, 1_000_000),
        session_start_limit: object({ total: int(0), remaining: int(0), reset_after: int(0), max_concurrency: int(1, 1_000_000) }),
      }),
    }),
  ),
})

/**
 * Checks an assignment completely (before the running pool is touched): shard ids inside the
 * total, unique and ascending, within this child's limits, sane timings.
 */
export function readAssignment(d: unknown, limits: AssignmentLimits): Assignment {
  const a = assignmentSchema.parse(d, 'assignment')
  if (a.shards.length === 0) throw new OptionsError('assignment.shards', 'is empty; a machine runs at least one shard')
  for (let i = 0; i < a.shards.length; i++) {
    const s = a.shards[i]
    if (s >= a.totalShards) throw new OptionsError(`assignment.shards[${i}]`, `shard ${s} does not exist in a bot of ${a.totalShards} shards`)
    if (i > 0 && s <= a.shards[i - 1]) throw new OptionsError(`assignment.shards[${i}]`, 'shard ids must be unique and ascending')
  }
  if (a.shards.length > limits.maxShards) {
    throw new OptionsError('assignment.shards', `asks for ${a.shards.length} shards; this child runs at most ${limits.maxShards} (--max-shards)`)
  }
  const instances = Math.ceil(a.shards.length / a.shardsPerInstance)
  if (instances > limits.maxInstances) {
    throw new OptionsError('assignment.shardsPerInstance', `makes ${instances} instances; this child runs at most ${limits.maxInstances} (--max-instances)`)
  }
  const timeouts = withTimeoutDefaults(a.timeouts, 'assignment.timeouts')
  if (timeouts.heartbeatInterval < 100) {
    throw new OptionsError('assignment.timeouts.heartbeatInterval', `is ${timeouts.heartbeatInterval} ms; a child accepts at least 100 ms`)
  }
  // Only sessions of this slice at this shard count can be resumed here; anything else is ignored.
  const own = new Set(a.shards)
  const sessions = (a.sessions as SessionInfo[]).filter((s) => own.has(s.shardId) && s.shardCount === a.totalShards)
  return { ...a, sessions, restarts: withRestartDefaults(a.restarts), timeouts }
}

const ACTION_TYPES = ['eval', 'script', 'fetch', 'request', 'send'] as const

/** What a `fanout` request asks the instances to do. */
export function readAction(v: unknown): InstanceAction {
  if (!isPlainObject(v)) throw new ProtocolError(`fanout action must be an object, got ${show(v)}`, 'MALFORMED_MESSAGE')
  const type = oneOf(ACTION_TYPES).parse(v.type, 'action.type')
  switch (type) {
    case 'eval':
      return { type, fn: str(1 << 24).parse(v.fn, 'action.fn'), context: v.context }
    case 'script':
      return { type, script: str(1 << 24).parse(v.script, 'action.script') }
    case 'fetch':
      return { type, prop: str(4096).parse(v.prop, 'action.prop') }
    case 'request':
    case 'send':
      return { type, message: v.message, from: v.from }
  }
}

const idList = arrayOf(int(0, 100_000_000), 100_000)

export function readTarget(v: unknown): Target {
  if (v === undefined || v === null) return {}
  if (!isPlainObject(v)) throw new ProtocolError(`target must be an object, got ${show(v)}`, 'MALFORMED_MESSAGE')
  const target: Target = {}
  if (v.shards !== undefined) target.shards = idList.parse(v.shards, 'target.shards')
  if (v.instances !== undefined) target.instances = idList.parse(v.instances, 'target.instances')
  if (v.machines !== undefined) target.machines = arrayOf(str(200), 10_000).parse(v.machines, 'target.machines')
  return target
}

const FORWARDED: ReadonlySet<string> = new Set([...FORWARDED_EVENTS, 'message'])

/** A child's message to the parent (requests excepted), checked. */
export function readChildMessage(msg: Envelope): ChildMessage {
  const d = msg.d
  const fail = (why: string): never => {
    throw new ProtocolError(`malformed '${msg.op}' from the child: ${why}`, 'MALFORMED_MESSAGE')
  }
  if (!isPlainObject(d)) return fail(`expected an object, got ${show(d)}`)
  switch (msg.op) {
    case LinkOps.ASSIGNED:
      if (!Number.isInteger(d.set)) return fail('expected a shard set number')
      if (isPlainObject(d.refused)) return { op: 'assigned', d: { set: d.set as number, refused: { name: String(d.refused.name ?? 'Error'), message: String(d.refused.message ?? ''), code: typeof d.refused.code === 'string' ? d.refused.code : undefined } } }
      if (typeof d.adopted !== 'boolean' || !Array.isArray(d.instances) || !Array.isArray(d.sessions)) return fail('expected { adopted, sessions, instances }')
      return { op: 'assigned', d: { set: d.set as number, adopted: d.adopted, sessions: d.sessions.filter(isSession) as never, instances: instancesOf(d.instances, fail), recentIdentifies: recentOf(d.recentIdentifies) } }
    case LinkOps.STATUS:
      if (!Array.isArray(d.instances) || typeof d.ready !== 'boolean' || !Number.isInteger(d.set)) return fail('expected { set, instances, ready }')
      return { op: 'status', d: { set: d.set as number, instances: instancesOf(d.instances, fail), ready: d.ready, ...(isPlainObject(d.failed) ? { failed: { name: String(d.failed.name ?? 'Error'), message: String(d.failed.message ?? ''), code: typeof d.failed.code === 'string' ? d.failed.code : undefined } } : {}) } }
    case LinkOps.RELEASE:
      if (typeof d.holder !== 'string' || (d.outcome !== 'ready' && d.outcome !== 'failed')) return fail('expected { holder, outcome }')
      return { op: 'release', d: { holder: d.holder, outcome: d.outcome } }
    case LinkOps.SESSION:
      if (typeof d.shardId !== 'number' || !Number.isInteger(d.shardId) || typeof d.totalShards !== 'number' || !Number.isInteger(d.totalShards)) return fail('expected { shardId, totalShards, session }')
      if (d.session !== null && !isSession(d.session)) return fail('session must be null or { sessionId, sequence, resumeURL, shardId, shardCount }')
      return { op: 'session', d: { shardId: d.shardId, totalShards: d.totalShards, session: d.session as never } }
    case LinkOps.UNCOORDINATED:
      return { op: 'uncoordinated', d: { shards: idList.parse(d.shards, 'shards') } }
    case LinkOps.IDENTIFY_SENT:
      if (typeof d.shardId !== 'number' || !Number.isInteger(d.shardId) || d.shardId < 0) return fail('expected { shardId }')
      return { op: 'identifySent', d: { shardId: d.shardId } }
    case LinkOps.IDENTIFY_SETTLED:
      if (typeof d.shardId !== 'number' || !Number.isInteger(d.shardId) || d.shardId < 0) return fail('expected { shardId }')
      return { op: 'identifySettled', d: { shardId: d.shardId } }
    case LinkOps.EVENT:
      if (typeof d.name !== 'string' || !FORWARDED.has(d.name)) return fail(`unknown event ${show(d.name)}`)
      return { op: 'event', d: { name: d.name, args: d.args } }
    default:
      throw new ProtocolError(`unknown message ${show(msg.op)} from the child; ignored (are both sides the same discordoo-sharding version?)`, 'UNKNOWN_OP')
  }
}

function isSession(v: unknown): boolean {
  return isPlainObject(v) && typeof v.sessionId === 'string' && typeof v.sequence === 'number' && typeof v.resumeURL === 'string' && typeof v.shardCount === 'number' && typeof v.shardId === 'number'
}

function instancesOf(list: unknown[], fail: (why: string) => never): never {
  for (const i of list) {
    if (!isPlainObject(i) || typeof i.id !== 'number' || typeof i.state !== 'string' || !Array.isArray(i.shards)) fail('instances must be [{ id, state, shards, ... }]')
  }
  return list as never
}

function recentOf(v: unknown): { shardId: number; agoMs: number }[] {
  if (!Array.isArray(v)) return []
  return v.filter((r): r is { shardId: number; agoMs: number } => isPlainObject(r) && Number.isInteger(r.shardId) && typeof r.agoMs === 'number' && r.agoMs >= 0)
}

/** Fields of a request from the other side, checked one by one. */
export const field = {
  shardId: (v: unknown, machine: { owns(shard: number): boolean }): number => {
    if (typeof v !== 'number' || !machine.owns(v)) throw new ProtocolError(`shard ${show(v)} is not one of this machine's shards`, 'NOT_MY_SHARD')
    return v
  },
  string: (v: unknown, name: string): string => str(1000).parse(v, name),
  int: (v: unknown, name: string): number => int(0, 100_000_000).parse(v, name),
  shards: (v: unknown, name: string): number[] => (v === undefined ? [] : idList.parse(v, name)),
  record: (v: unknown, name: string): Record<string, unknown> => schema('an object', (x, f) => (isPlainObject(x) ? x : (() => { throw new OptionsError(f, `expected an object, got ${show(x)}`) })())).parse(v, name),
}

/**
 * The options argument of broadcastEval / fetchClientValues / send / request, on the manager and in
 * an instance. A mistake in it must not be read as "no target": a misspelt key (`shards`, hybrid
 * sharding's `cluster`) or an empty list would otherwise reach every instance, and a shard id given as
 * a string would match none. So each is refused here with the field and the fix.
 */
import { closest } from '../options/schema.js'

const KNOWN = ['shard', 'instance', 'machine', 'guildId', 'all', 'context', 'timeout', 'signal', 'allowPartial'] as const
const KNOWN_KEYS: ReadonlySet<string> = new Set(KNOWN)

/** Keys people write from habit (other libraries, plurals), and what to write instead. */
const INSTEAD: Readonly<Record<string, string>> = {
  shards: "'shard' (one id or an array of ids)",
  shardId: "'shard'",
  shardList: "'shard' (an array of ids)",
  instances: "'instance' (one id or an array of ids)",
  cluster: "'instance' (a discord-hybrid-sharding cluster is an instance here)",
  clusterId: "'instance' (a discord-hybrid-sharding cluster is an instance here)",
  machines: "'machine' (one id or an array of ids)",
  guild: "'guildId'",
  guildID: "'guildId'",
  partial: "'allowPartial'",
  ctx: "'context'",
}

/** A call's options: an object or nothing, with known keys and well-formed selectors. */
export function optionsArg<T extends object>(arg: T | undefined | null, what: string, expected = 'options like { shard: 0, timeout: 5000 }'): T {
  if (arg === undefined || arg === null) return {} as T
  if (typeof arg !== 'object' || Array.isArray(arg)) throw new TypeError(`${what}: expected ${expected}, got ${describeArg(arg)}`)
  for (const key in arg) if (!KNOWN_KEYS.has(key)) throw unknownOption(what, key)
  const o = arg as Record<string, unknown>
  if (o.shard !== undefined) checkIds(o.shard, 'shard', what)
  if (o.instance !== undefined) checkIds(o.instance, 'instance', what)
  if (o.machine !== undefined) checkMachines(o.machine, what)
  if (o.all !== undefined && typeof o.all !== 'boolean') throw new TypeError(`${what}: options.all is true or false, got ${describeArg(o.all)}`)
  if (o.signal !== undefined && !isAbortSignal(o.signal)) {
    throw new TypeError(`${what}: options.signal must be an AbortSignal (controller.signal), got ${isAbortController(o.signal) ? 'an AbortController' : describeArg(o.signal)}`)
  }
  return arg
}

/**
 * `fetchClientValues`' target: options, or a shard id as discord.js takes it
 * (`fetchClientValues('guilds.cache.size', 0)`), which would otherwise answer with every instance's value.
 */
export function targetArg<T extends object>(arg: T | number | undefined | null, what: string): T | { shard: number } {
  if (typeof arg !== 'number') return optionsArg(arg, what, 'a shard id or options like { shard: 0 }')
  if (!isId(arg)) throw new TypeError(`${what}: a shard id is an integer ≥ 0, got ${arg}`)
  return { shard: arg }
}

function unknownOption(what: string, key: string): TypeError {
  if (Object.hasOwn(INSTEAD, key)) return new TypeError(`${what}: unknown option '${key}'; use ${INSTEAD[key]}`)
  const near = closest(key, [...KNOWN])
  return new TypeError(`${what}: unknown option '${key}'; ${near ? `did you mean '${near}'?` : `the options are ${KNOWN.join(', ')}`}`)
}

function checkIds(value: unknown, field: 'shard' | 'instance', what: string): void {
  const fix = `options.${field} is an id (an integer ≥ 0) or an array of ids`
  if (Array.isArray(value)) {
    if (value.length === 0) throw new TypeError(`${what}: options.${field} is an empty list, which selects no instance; leave it out to reach every instance`)
    const bad = value.find((v) => !isId(v))
    if (bad !== undefined) throw new TypeError(`${what}: ${fix}; the list holds ${describeArg(bad)}`)
    return
  }
  if (!isId(value)) throw new TypeError(`${what}: ${fix}, got ${describeArg(value)}`)
}

function checkMachines(value: unknown, what: string): void {
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0) throw new TypeError(`${what}: options.machine is an empty list, which selects no instance; leave it out to reach every machine`)
  const bad = list.find((v) => typeof v !== 'string' || v.length === 0)
  if (bad !== undefined) throw new TypeError(`${what}: options.machine is a machine id (a non-empty string, as status() shows it) or an array of them, got ${describeArg(bad)}`)
}

const isId = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0

function isAbortSignal(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as AbortSignal).aborted === 'boolean' && typeof (v as AbortSignal).addEventListener === 'function'
}

function isAbortController(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as AbortController).abort === 'function' && isAbortSignal((v as AbortController).signal)
}

function describeArg(arg: unknown): string {
  if (Array.isArray(arg)) return 'an array'
  if (arg === null) return 'null'
  return typeof arg === 'string' ? JSON.stringify(arg) : typeof arg === 'number' ? String(arg) : typeof arg
}

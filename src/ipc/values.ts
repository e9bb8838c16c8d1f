/**
 * One value semantics on every hop (process IPC as JSON, worker postMessage, msgpack over TLS):
 * user values are turned into a JSON-safe tree with tagged nodes before they leave, and rebuilt on
 * arrival. What survives: undefined, NaN/±Infinity/-0, BigInt, Date, RegExp, Map (discord.js
 * Collections arrive as Map), Set, Buffer/typed arrays (as Uint8Array), Error (name, message, stack,
 * code, cause), arrays and plain objects. Class instances with toJSON() send toJSON(); other class
 * instances send their own enumerable properties. Functions and symbols become undefined. Circular
 * references throw a clear error naming the path.
 */
import { RemoteError, ShardingError } from '../errors.js'

const TAG = '__dsv'
type Tagged = { [TAG]: string; v?: unknown }

export class SerializationError extends ShardingError {
  constructor(message: string) {
    super('SERIALIZATION', message)
  }
}

export function serializeValue(value: unknown): unknown {
  // Most results are already plain JSON (numbers, strings, arrays, plain objects): send them as they
  // are, without building a copy. Only values that need tags take the full encoder, and an encoded
  // value always carries a tag at its top: the receiver looks at one key, never walks a plain value.
  if (isPlainTree(value, 0)) return value
  const encoded = encode(value, '$', new Set())
  return isTagged(encoded) ? encoded : { [TAG]: 't', v: encoded }
}

function isTagged(value: unknown): value is Tagged {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[TAG] === 'string'
}

/** Deep enough for real data; deeper (or circular) values take the full encoder, which reports cycles. */
const MAX_PLAIN_DEPTH = 64

/** Whether a value survives JSON unchanged: finite numbers (not -0), strings, booleans, null, arrays and plain objects of those. */
function isPlainTree(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0)
    case 'object': {
      if (value === null) return true
      if (depth >= MAX_PLAIN_DEPTH) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlainTree(value[i], depth + 1)) return false
        return true
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const key in value) {
        if (key === TAG || !isPlainTree((value as Record<string, unknown>)[key], depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

function encode(value: unknown, path: string, seen: Set<object>): unknown {
  switch (typeof value) {
    case 'undefined':
      return { [TAG]: 'u' }
    case 'number':
      if (Number.isNaN(value)) return { [TAG]: 'n', v: 'NaN' }
      if (value === Infinity) return { [TAG]: 'n', v: 'Infinity' }
      if (value === -Infinity) return { [TAG]: 'n', v: '-Infinity' }
      if (Object.is(value, -0)) return { [TAG]: 'n', v: '-0' }
      return value
    case 'bigint':
      return { [TAG]: 'b', v: value.toString() }
    case 'string':
    case 'boolean':
      return value
    case 'function':
    case 'symbol':
      return { [TAG]: 'u' }
  }
  if (value === null) return null
  const obj = value as object
  if (seen.has(obj)) throw new SerializationError(`circular reference at ${path}; return plain data from broadcastEval`)
  seen.add(obj)
  try {
    return encodeObject(obj, path, seen)
  } finally {
    seen.delete(obj)
  }
}

function encodeObject(obj: object, path: string, seen: Set<object>): unknown {
  if (Array.isArray(obj)) {
    const out = new Array(obj.length)
    for (let i = 0; i < obj.length; i++) out[i] = encode(obj[i], `${path}[${i}]`, seen)
    return out
  }
  if (obj instanceof Date) return { [TAG]: 'd', v: obj.getTime() }
  if (obj instanceof RegExp) return { [TAG]: 'r', v: [obj.source, obj.flags] }
  if (obj instanceof Map) {
    const entries: unknown[] = []
    let i = 0
    for (const [k, v] of obj) {
      entries.push([encode(k, `${path}.key(${i})`, seen), encode(v, `${path}.get(${String(k)})`, seen)])
      i++
    }
    return { [TAG]: 'm', v: entries }
  }
  if (obj instanceof Set) {
    const items: unknown[] = []
    let i = 0
    for (const v of obj) items.push(encode(v, `${path}.values[${i++}]`, seen))
    return { [TAG]: 's', v: items }
  }
  if (ArrayBuffer.isView(obj)) {
    const bytes = new Uint8Array(obj.buffer, obj.byteOffset, obj.byteLength)
    return { [TAG]: 'x', v: Buffer.from(bytes).toString('base64') }
  }
  if (obj instanceof Error) return { [TAG]: 'e', v: encodeError(obj, path, seen) }
  const proto = Object.getPrototypeOf(obj)
  if (proto !== Object.prototype && proto !== null && typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
    return encode((obj as { toJSON(): unknown }).toJSON(), path, seen)
  }
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(obj)) out[key] = encode((obj as Record<string, unknown>)[key], `${path}.${key}`, seen)
  // A user object that happens to use our tag key is wrapped so it cannot be mistaken for a tagged node.
  if (TAG in out) return { [TAG]: 'o', v: out }
  return out
}

function encodeError(err: Error, path: string, seen: Set<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: err.message, stack: err.stack }
  const code = (err as { code?: unknown }).code
  if (code !== undefined) out.code = encode(code, `${path}.code`, seen)
  if (err.cause !== undefined) out.cause = encode(err.cause, `${path}.cause`, seen)
  return out
}

export function deserializeValue(value: unknown): unknown {
  // A plain value (no tag at its top, see serializeValue) is its own decoding, however large.
  if (value === null || typeof value !== 'object' || typeof (value as Record<string, unknown>)[TAG] !== 'string') return value
  return decodeTagged(value as Tagged)
}

function decodeTree(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((x) => decodeTree(x))
  const rec = value as Record<string, unknown>
  if (typeof rec[TAG] === 'string') return decodeTagged(rec as Tagged)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(rec)) out[key] = decodeTree(rec[key])
  return out
}

function decodeTagged(node: Tagged): unknown {
  const v = node.v
  switch (node[TAG]) {
    case 't':
      return decodeTree(v)
    case 'u':
      return undefined
    case 'n':
      return v === '-0' ? -0 : Number(v)
    case 'b':
      return BigInt(v as string)
    case 'd':
      return new Date(v as number)
    case 'r': {
      const [source, flags] = v as [string, string]
      return new RegExp(source, flags)
    }
    case 'm':
      return new Map((v as [unknown, unknown][]).map(([k, val]) => [decodeTree(k), decodeTree(val)]))
    case 's':
      return new Set((v as unknown[]).map((x) => decodeTree(x)))
    case 'x':
      return new Uint8Array(Buffer.from(v as string, 'base64'))
    case 'e':
      return decodeError(v as Record<string, unknown>)
    case 'o': {
      const out: Record<string, unknown> = {}
      for (const [key, val] of Object.entries(v as Record<string, unknown>)) out[key] = decodeTree(val)
      return out
    }
    default:
      throw new SerializationError(`unknown value tag ${JSON.stringify(node[TAG])}; are both sides the same discordoo-sharding version?`)
  }
}

function decodeError(rec: Record<string, unknown>): Error {
  const err = new Error(String(rec.message ?? ''))
  err.name = String(rec.name ?? 'Error')
  if (typeof rec.stack === 'string') err.stack = rec.stack
  if ('code' in rec) (err as { code?: unknown }).code = decodeTree(rec.code)
  if ('cause' in rec) err.cause = decodeTree(rec.cause)
  return err
}

/** Errors travel as plain records so the receiving side can rebuild a RemoteError with the remote stack. */
export interface WireError {
  name: string
  message: string
  stack?: string
  code?: string
}

export function toWireError(err: unknown): WireError {
  if (err instanceof RemoteError) {
    return { name: err.remoteName, message: err.message, stack: err.remoteStack, code: err.code }
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { name: err.name, message: err.message, stack: err.stack, ...(typeof code === 'string' ? { code } : {}) }
  }
  return { name: 'Error', message: typeof err === 'string' ? err : safeString(err) }
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

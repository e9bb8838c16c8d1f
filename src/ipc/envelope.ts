/**
 * The envelope every hop carries: `{ v, op, id?, d?, k?, ttl? }`. Ops are short strings so a
 * message is readable in a debugger. Requests (`req`, kind in `k`, deadline in `ttl`) carry an id
 * unique on their hop; the answer is a `res` with the same id, and `cancel` withdraws a request
 * (src/rpc/endpoint.ts). Routing data (targets) travels inside `d`, so each hop can re-address it.
 */
import { PROTOCOL_VERSION } from '../constants.js'
import type { WireError } from './values.js'

export const Ops = {
  // instance → manager
  HELLO: 'hello',
  READY: 'ready',
  SHARD: 'shard',
  SESSION: 'session',
  ATTACHED: 'attached',
  FATAL: 'fatal',
  CRASH: 'crash',
  HEARTBEAT_ACK: 'hbAck',
  /** A line for the manager's `debug` event (e.g. the discord.js adapter's decisions). */
  DEBUG: 'debug',
  /** A shard's IDENTIFY has been sent (after an identify grant): `{ shardId, sentAt? }`, sentAt = Date.now() just after the send. */
  IDENTIFY_SENT: 'identifySent',
  // manager → instance
  HEARTBEAT: 'hb',
  SHUTDOWN: 'shutdown',
  MESSAGE: 'msg',
  /** Whether this instance's shard set serves the bot (false for a new set during a re-shard). */
  ACTIVE: 'active',
  // both directions
  REQUEST: 'req',
  RESPONSE: 'res',
  CANCEL: 'cancel',
  SEND: 'send',
  /** Several req/res/cancel envelopes sent within one turn of the event loop, in order (src/ipc/packing.ts). */
  PACK: 'pack',
} as const
export type Op = (typeof Ops)[keyof typeof Ops]
export const KNOWN_OPS: ReadonlySet<string> = new Set(Object.values(Ops))

export interface Envelope<D = unknown> {
  v: number
  op: string
  id?: number
  d?: D
  /** Requests: what is asked (`eval`, `identify`, ...). */
  k?: string
  /** Requests: milliseconds left until the caller's deadline when the request left (absent: none). */
  ttl?: number
}

export type Outcome = { ok: true; value: unknown } | { ok: false; error: WireError }

export function envelope<D>(op: string, d?: D, id?: number): Envelope<D> {
  const env: Envelope<D> = { v: PROTOCOL_VERSION, op }
  if (id !== undefined) env.id = id
  if (d !== undefined) env.d = d
  return env
}

/*
 * Small helpers and the per-message path. V8 optimizes a function this small (under 81 bytes of
 * bytecode) on its own at its first profiler tick, in every isolate that runs it, even though its
 * callers inline it once they are optimized; for the helpers that run on every message, that tick
 * comes within the first few thousand messages, and on a machine with few cores those compile jobs
 * are what the first calls after a start wait behind (BENCHMARKS.md, "V8's early optimization of small
 * functions"). So the handlers that every message passes through (the manager's InstanceChannel, the
 * instance runtime, RpcEndpoint.call / handle, Packer.sendCall) write such checks out instead of
 * calling isEnvelope and its kind; everything else calls the helpers.
 */
/** Our envelopes share the channel with discord.js's ShardClientUtil messages and raw user messages. */
export function isEnvelope(msg: unknown): msg is Envelope {
  return (
    typeof msg === 'object' &&
    msg !== null &&
    (msg as Envelope).v === PROTOCOL_VERSION &&
    typeof (msg as Envelope).op === 'string' &&
    KNOWN_OPS.has((msg as Envelope).op)
  )
}

/** A discord.js ShardClientUtil protocol message (`_ready`, `_sEval`, ...). */
export function isDiscordJsMessage(msg: unknown): msg is Record<string, unknown> {
  if (typeof msg !== 'object' || msg === null) return false
  for (const key of Object.keys(msg)) if (key.startsWith('_')) return true
  return false
}

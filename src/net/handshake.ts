/**
 * HELLO / WELCOME / GOAWAY payloads (pure): building, validating and negotiating. Everything read
 * from the peer is checked here, so link code only ever sees well-formed values.
 */
import { ProtocolError } from '../errors.js'
import { Capability, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from './constants.js'

export type LinkRole = 'parent' | 'child'

export interface Heartbeat {
  /** ms between PINGs. */
  interval: number
  /** ms of silence after which the link counts as dead. */
  timeout: number
}

export interface Hello {
  v: number
  minV: number
  role: LinkRole
  nodeId: string
  caps: string[]
  maxFrame: number
  hb: Heartbeat
  resume?: { sessionId: string; lastSeq: number }
  info?: unknown
}

export interface Welcome {
  v: number
  nodeId: string
  sessionId: string
  caps: string[]
  maxFrame: number
  hb: Heartbeat
  resumed: boolean
  /** Highest message sequence the server delivered in this session (0 for a new session). */
  lastSeq: number
  info?: unknown
}

export interface GoAway {
  code: string
  reason: string
}

/** What one side brings to the handshake. */
export interface HandshakeParams {
  nodeId: string
  role: LinkRole
  caps: string[]
  maxFrame: number
  hb: Heartbeat
  /** Version range; defaults to this build's (tests override to simulate other builds). */
  v?: number
  minV?: number
}

export interface Negotiated {
  v: number
  caps: string[]
  /** Largest frame either side may send (min of both limits). */
  maxFrame: number
  hb: Heartbeat
}

export type VersionCheck = { ok: true; v: number } | { ok: false; reason: string }

const MAX_ID_CHARS = 256
const MAX_CAPS = 32
const MAX_CAP_CHARS = 64
const MAX_REASON_CHARS = 1000
const MIN_FRAME_LIMIT = 1024
const MIN_HB_MS = 10

function range(min: number, max: number): string {
  return `${min}..${max}`
}

/** Chooses the highest version both ranges share, or explains why there is none. */
export function checkVersion(peerV: number, peerMinV: number, ourMinV = MIN_PROTOCOL_VERSION, ourV = PROTOCOL_VERSION): VersionCheck {
  const v = Math.min(peerV, ourV)
  if (v >= Math.max(peerMinV, ourMinV)) return { ok: true, v }
  const theirs = peerMinV === peerV ? `version ${peerV}` : `versions ${peerMinV}..${peerV}`
  return { ok: false, reason: `protocol ${theirs} not supported, this side speaks ${range(ourMinV, ourV)}` }
}

/** Both sides ping at the faster interval; the timeout allows at least two missed intervals. */
export function agreeHeartbeat(a: Heartbeat, b: Heartbeat): Heartbeat {
  const interval = Math.max(MIN_HB_MS, Math.min(a.interval, b.interval))
  return { interval, timeout: Math.max(2 * interval, Math.min(a.timeout, b.timeout)) }
}

export function buildHello(local: HandshakeParams, resume?: Hello['resume'], info?: unknown): Hello {
  const hello: Hello = {
    v: local.v ?? PROTOCOL_VERSION,
    minV: local.minV ?? MIN_PROTOCOL_VERSION,
    role: local.role,
    nodeId: local.nodeId,
    caps: [...local.caps],
    maxFrame: local.maxFrame,
    hb: { ...local.hb },
  }
  if (resume) hello.resume = { ...resume }
  if (info !== undefined) hello.info = info
  return hello
}

/** Server side: the reply to an accepted HELLO (version already checked). */
export function negotiate(local: HandshakeParams, hello: Hello, version: number): Negotiated {
  const theirs = new Set(hello.caps)
  return {
    v: version,
    caps: local.caps.filter((c) => theirs.has(c)),
    maxFrame: Math.min(local.maxFrame, hello.maxFrame),
    hb: agreeHeartbeat(local.hb, hello.hb),
  }
}

export function buildWelcome(
  local: HandshakeParams,
  n: Negotiated,
  session: { sessionId: string; resumed: boolean; lastSeq: number },
  info?: unknown,
): Welcome {
  const w: Welcome = { v: n.v, nodeId: local.nodeId, sessionId: session.sessionId, caps: n.caps, maxFrame: n.maxFrame, hb: n.hb, resumed: session.resumed, lastSeq: session.lastSeq }
  if (info !== undefined) w.info = info
  return w
}

// ---- validation of peer input ----

function bad(what: string, detail: string, code = 'BAD_HANDSHAKE'): ProtocolError {
  return new ProtocolError(`${what}: ${detail}`, code)
}

function asObject(what: string, v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) throw bad(what, 'payload is not a map')
  return v as Record<string, unknown>
}

function int(what: string, field: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(what, `${field} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`)
  }
  return v
}

function str(what: string, field: string, v: unknown, maxChars: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxChars) {
    throw bad(what, `${field} must be a non-empty string of at most ${maxChars} characters`)
  }
  return v
}

function caps(what: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.length > MAX_CAPS) throw bad(what, `caps must be an array of at most ${MAX_CAPS} strings`)
  return v.map((c, i) => str(what, `caps[${i}]`, c, MAX_CAP_CHARS))
}

function heartbeat(what: string, v: unknown): Heartbeat {
  const o = asObject(`${what} hb`, v)
  return { interval: int(what, 'hb.interval', o.interval, MIN_HB_MS, 3_600_000), timeout: int(what, 'hb.timeout', o.timeout, MIN_HB_MS, 3_600_000) }
}

/** The version fields alone, read leniently so a future HELLO shape still gets a clear refusal. */
export function readVersions(v: unknown): { v: number; minV: number } {
  const o = asObject('HELLO', v)
  const ver = int('HELLO', 'v', o.v, 0, 0xffff)
  const minV = o.minV === undefined ? ver : int('HELLO', 'minV', o.minV, 0, ver)
  return { v: ver, minV }
}

export function parseHello(value: unknown): Hello {
  const o = asObject('HELLO', value)
  const { v, minV } = readVersions(o)
  if (o.role !== 'parent' && o.role !== 'child') throw bad('HELLO', `role must be 'parent' or 'child', got ${JSON.stringify(o.role)}`)
  const hello: Hello = {
    v,
    minV,
    role: o.role,
    nodeId: str('HELLO', 'nodeId', o.nodeId, MAX_ID_CHARS),
    caps: caps('HELLO', o.caps),
    maxFrame: int('HELLO', 'maxFrame', o.maxFrame, MIN_FRAME_LIMIT, 0xffffffff),
    hb: heartbeat('HELLO', o.hb),
  }
  if (o.resume !== undefined && o.resume !== null) {
    const r = asObject('HELLO resume', o.resume)
    hello.resume = { sessionId: str('HELLO', 'resume.sessionId', r.sessionId, MAX_ID_CHARS), lastSeq: int('HELLO', 'resume.lastSeq', r.lastSeq, 0) }
  }
  if (o.info !== undefined) hello.info = o.info
  return hello
}

/** Client side: validates WELCOME against what we offered in HELLO. */
export function parseWelcome(value: unknown, offered: Hello): Welcome {
  const o = asObject('WELCOME', value)
  const v = int('WELCOME', 'v', o.v, 0, 0xffff)
  if (v < offered.minV || v > offered.v) {
    throw bad('WELCOME', `server chose protocol version ${v}, this side speaks ${range(offered.minV, offered.v)}`, 'VERSION_MISMATCH')
  }
  const chosen = caps('WELCOME', o.caps)
  const offeredCaps = new Set(offered.caps)
  const extra = chosen.find((c) => !offeredCaps.has(c))
  if (extra !== undefined) throw bad('WELCOME', `server enabled capability '${extra}' that this side did not offer`)
  if (typeof o.resumed !== 'boolean') throw bad('WELCOME', 'resumed must be a boolean')
  const w: Welcome = {
    v,
    nodeId: str('WELCOME', 'nodeId', o.nodeId, MAX_ID_CHARS),
    sessionId: str('WELCOME', 'sessionId', o.sessionId, MAX_ID_CHARS),
    caps: chosen,
    maxFrame: int('WELCOME', 'maxFrame', o.maxFrame, MIN_FRAME_LIMIT, 0xffffffff),
    hb: heartbeat('WELCOME', o.hb),
    resumed: o.resumed,
    lastSeq: int('WELCOME', 'lastSeq', o.lastSeq, 0),
  }
  if (w.resumed && (!offered.resume || offered.resume.sessionId !== w.sessionId)) {
    throw bad('WELCOME', `server resumed session ${w.sessionId}, which this side did not ask for`)
  }
  if (o.info !== undefined) w.info = o.info
  return w
}

/** Lenient: a GOAWAY is the last word of a closing peer, so take whatever reason it gives. */
export function parseGoAway(value: unknown): GoAway {
  const o = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {}
  const code = typeof o.code === 'string' && o.code.length > 0 ? o.code.slice(0, 64) : 'UNKNOWN'
  const reason = typeof o.reason === 'string' && o.reason.length > 0 ? o.reason.slice(0, MAX_REASON_CHARS) : 'no reason given'
  return { code, reason }
}

/** Capabilities this build always advertises. */
export const BASE_CAPS: readonly string[] = [Capability.RESUME]

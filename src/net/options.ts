/** Options shared by both link ends, their defaults, and validation (OptionsError names the field). */
import { OptionsError } from '../errors.js'
import type { TrustSource, PemSource } from './trust.js'

export interface LinkTlsOptions {
  /** This side's certificate: a path, inline PEM, or a Buffer. */
  cert: PemSource
  /** This side's private key: a path, inline PEM, or a Buffer. */
  key: PemSource
  passphrase?: string
  /** Certificates of the peers this side accepts (paths, PEM, or { path | pem, label }). */
  trust: readonly TrustSource[]
  /** Debugging only: when false, a peer passes if its certificate is pinned even if TLS did not verify it. */
  rejectUnauthorized?: boolean
  /**
   * A path, PEM or 'auto'. Accepted for config compatibility and passed to TLS, but a no-op: it only
   * affects TLS ≤ 1.2 DHE-RSA suites, and these links are TLS 1.3 with EC/Ed25519 keys (use ecdhCurve-level
   * settings of Node if you must choose key-exchange groups).
   */
  dhparam?: PemSource
  /** The caller's option names, used in error messages (e.g. { cert: 'machines.tls.public' }). */
  fields?: { cert?: string; key?: string; trust?: string; dhparam?: string }
}

export interface LinkCommonOptions {
  /** This node's id, sent in HELLO/WELCOME (e.g. the parent's or child's machine id). */
  nodeId: string
  /** Application data sent in HELLO (client) or WELCOME (server); a function is called per handshake. Must encode to < 64 KiB. */
  info?: unknown | (() => unknown)
  /** Extra capabilities to advertise (e.g. 'udp'); 'resume' is always advertised. */
  caps?: readonly string[]
  /** Largest accepted frame, counted as the length field (6 + payload bytes). Default 16 MiB. */
  maxFrameBytes?: number
  /**
   * Client: max ms from dialling to WELCOME (default 10 000). Server: max ms from accepting the TCP
   * connection to a complete HELLO, TLS handshake included (default 5 000); then it is closed.
   */
  handshakeTimeoutMs?: number
  /** PING interval. Default 5000. */
  heartbeatIntervalMs?: number
  /** Silence after which the link is dead. Default 15 000. */
  heartbeatTimeoutMs?: number
  /** Cap on bytes waiting for acknowledgement (queued while down included); beyond it send() throws BACKPRESSURE. Default 64 MiB. */
  maxQueuedBytes?: number
  /** Cap on messages waiting for acknowledgement. Default 262 144. */
  maxQueuedMessages?: number
  /** Acknowledge after this many delivered messages... Default 64. */
  ackEvery?: number
  /** ...or after this many ms, whichever comes first. Default 20. */
  ackDelayMs?: number
  /** How long close() waits for queued messages to be acknowledged before it sends GOAWAY. Default 2000. */
  closeTimeoutMs?: number
  /** TCP keepalive initial delay, a backstop behind PING/PONG. Default 15 000. */
  keepAliveMs?: number
}

export interface ResolvedCommon {
  nodeId: string
  info: unknown | (() => unknown)
  caps: string[]
  maxFrameBytes: number
  handshakeTimeoutMs: number
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  maxQueuedBytes: number
  maxQueuedMessages: number
  ackEvery: number
  ackDelayMs: number
  closeTimeoutMs: number
  keepAliveMs: number
}

export const LINK_DEFAULTS = {
  maxFrameBytes: 16 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 15_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxQueuedMessages: 262_144,
  ackEvery: 64,
  ackDelayMs: 20,
  closeTimeoutMs: 2_000,
  keepAliveMs: 15_000,
} as const

/** Before HELLO/WELCOME the peer is authenticated but unknown: accept only small frames. */
export const HANDSHAKE_MAX_FRAME_BYTES = 64 * 1024

export function positiveInt(field: string, v: unknown, def: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new OptionsError(field, `expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`)
  }
  return v
}

export function resolveCommon(o: LinkCommonOptions, prefix = ''): ResolvedCommon {
  if (typeof o?.nodeId !== 'string' || o.nodeId.length === 0 || o.nodeId.length > 256) {
    throw new OptionsError(`${prefix}nodeId`, 'is required: a non-empty string of at most 256 characters')
  }
  const caps = ['resume', ...(o.caps ?? []).filter((c) => c !== 'resume')]
  const r: ResolvedCommon = {
    nodeId: o.nodeId,
    info: o.info,
    caps,
    maxFrameBytes: positiveInt(`${prefix}maxFrameBytes`, o.maxFrameBytes, LINK_DEFAULTS.maxFrameBytes, 1024, 0xffffffff),
    handshakeTimeoutMs: positiveInt(`${prefix}handshakeTimeoutMs`, o.handshakeTimeoutMs, LINK_DEFAULTS.handshakeTimeoutMs),
    heartbeatIntervalMs: positiveInt(`${prefix}heartbeatIntervalMs`, o.heartbeatIntervalMs, LINK_DEFAULTS.heartbeatIntervalMs, 10, 3_600_000),
    heartbeatTimeoutMs: positiveInt(`${prefix}heartbeatTimeoutMs`, o.heartbeatTimeoutMs, LINK_DEFAULTS.heartbeatTimeoutMs, 20, 3_600_000),
    maxQueuedBytes: positiveInt(`${prefix}maxQueuedBytes`, o.maxQueuedBytes, LINK_DEFAULTS.maxQueuedBytes),
    maxQueuedMessages: positiveInt(`${prefix}maxQueuedMessages`, o.maxQueuedMessages, LINK_DEFAULTS.maxQueuedMessages, 1, 2 ** 30),
    ackEvery: positiveInt(`${prefix}ackEvery`, o.ackEvery, LINK_DEFAULTS.ackEvery),
    ackDelayMs: positiveInt(`${prefix}ackDelayMs`, o.ackDelayMs, LINK_DEFAULTS.ackDelayMs, 0),
    closeTimeoutMs: positiveInt(`${prefix}closeTimeoutMs`, o.closeTimeoutMs, LINK_DEFAULTS.closeTimeoutMs, 0),
    keepAliveMs: positiveInt(`${prefix}keepAliveMs`, o.keepAliveMs, LINK_DEFAULTS.keepAliveMs, 0),
  }
  if (r.heartbeatTimeoutMs < 2 * r.heartbeatIntervalMs) {
    throw new OptionsError(`${prefix}heartbeatTimeoutMs`, `must be at least twice heartbeatIntervalMs (${r.heartbeatIntervalMs}), got ${r.heartbeatTimeoutMs}`)
  }
  return r
}

export function resolveInfo(info: unknown): unknown {
  return typeof info === 'function' ? (info as () => unknown)() : info
}

/** Limits of the child's listener against connections that have not proven who they are. */
export interface LinkServerLimits {
  /** From TCP accept to a complete HELLO (TLS included); later the connection is closed. */
  handshakeTimeoutMs: number
  maxUnauthenticated: number
  maxUnauthenticatedPerAddress: number
  maxPendingHandshakes: number
  refusalsPerSecond: number
  refusalSummaryMs: number
}

export const SERVER_DEFAULTS: Readonly<LinkServerLimits> = {
  handshakeTimeoutMs: 5_000,
  maxUnauthenticated: 256,
  maxUnauthenticatedPerAddress: 32,
  maxPendingHandshakes: 8,
  refusalsPerSecond: 3,
  refusalSummaryMs: 10_000,
}

export function resolveServerLimits(o: Partial<Record<keyof LinkServerLimits, unknown>>, prefix = ''): LinkServerLimits {
  const d = SERVER_DEFAULTS
  const r: LinkServerLimits = {
    handshakeTimeoutMs: positiveInt(`${prefix}handshakeTimeoutMs`, o.handshakeTimeoutMs, d.handshakeTimeoutMs, 1, 600_000),
    maxUnauthenticated: positiveInt(`${prefix}maxUnauthenticated`, o.maxUnauthenticated, d.maxUnauthenticated, 1, 1_000_000),
    maxUnauthenticatedPerAddress: positiveInt(`${prefix}maxUnauthenticatedPerAddress`, o.maxUnauthenticatedPerAddress, d.maxUnauthenticatedPerAddress, 1, 1_000_000),
    maxPendingHandshakes: positiveInt(`${prefix}maxPendingHandshakes`, o.maxPendingHandshakes, d.maxPendingHandshakes, 1, 10_000),
    refusalsPerSecond: positiveInt(`${prefix}refusalsPerSecond`, o.refusalsPerSecond, d.refusalsPerSecond, 1, 1_000_000),
    refusalSummaryMs: positiveInt(`${prefix}refusalSummaryMs`, o.refusalSummaryMs, d.refusalSummaryMs, 100, 3_600_000),
  }
  if (o.maxUnauthenticatedPerAddress !== undefined && r.maxUnauthenticatedPerAddress > r.maxUnauthenticated) {
    throw new OptionsError(
      `${prefix}maxUnauthenticatedPerAddress`,
      `must not exceed maxUnauthenticated (${r.maxUnauthenticated}), got ${r.maxUnauthenticatedPerAddress}`,
    )
  }
  // An explicit global cap below the default per-address one: the per-address cap follows it.
  r.maxUnauthenticatedPerAddress = Math.min(r.maxUnauthenticatedPerAddress, r.maxUnauthenticated)
  return r
}

import type { WebSocket, RawData } from 'ws'
import {
  CLIENT_OPS,
  GatewayCloseCode,
  GatewayOp,
  MAX_CLIENT_PAYLOAD_BYTES,
  PRE_AUTH_OPS,
  type GatewayPayload,
} from './protocol.js'
import { simulatorNow } from './clock.js'
import type { NowFn } from './identify-rules.js'
import { SendRateLimiter } from './rate-limit.js'
import type { Session, SessionSocket } from './sessions.js'
import { Transport } from './transport.js'

/** Who ended a connection. */
export type CloseInitiator = 'client' | 'server'

/** Per-connection settings read when the connection opens. */
export interface ConnectionSettings {
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  rateLimit: { events: number; windowMs: number; countHeartbeats: boolean; sliding: boolean }
}

/** What a connection delegates to the simulator: everything that needs bot-wide state. */
export interface ConnectionHandler {
  settings(): ConnectionSettings
  identify(conn: GatewayConnection, d: unknown): void
  resume(conn: GatewayConnection, d: unknown): void
  /** Ops 3, 4, 8, 31, 43 from an authenticated connection. */
  command(conn: GatewayConnection, payload: GatewayPayload): void
  /** False while the "zombie" fault is on for this connection's shard. */
  shouldAck(conn: GatewayConnection): boolean
  rateLimited(conn: GatewayConnection): void
  /** The server decided to close this socket with `code` (the socket is still closing). */
  closing(conn: GatewayConnection, code: number): void
  closed(conn: GatewayConnection, code: number, initiator: CloseInitiator): void
}

export interface ConnectionRequest {
  /** API version from `?v=`; anything but 9 or 10 gets HELLO and then close 4012. */
  version: number
  compress: boolean
  /** The client connected on the `resume_gateway_url` path. */
  viaResumeUrl: boolean
}

let nextConnectionId = 1

/**
 * One gateway socket's state machine (gateway.md §5 "Per-connection checks"): HELLO, heartbeat deadline
 * and ACKs, size/JSON/rate-limit/opcode/auth checks in the documented order, then hands IDENTIFY,
 * RESUME and commands to the handler. It knows its session but not the rules that create one.
 */
export class GatewayConnection implements SessionSocket {
  readonly id = nextConnectionId++
  readonly openedAt: number
  session: Session | null = null
  /** Heartbeats received (including before IDENTIFY). */
  heartbeats = 0
  private readonly transport: Transport
  private readonly settings: ConnectionSettings
  private heartbeatTimer: NodeJS.Timeout | null = null
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly limiter: SendRateLimiter
  private serverCloseCode: number | null = null
  private finished = false

  constructor(
    socket: WebSocket,
    readonly request: ConnectionRequest,
    private readonly handler: ConnectionHandler,
    clock: NowFn = simulatorNow,
  ) {
    this.openedAt = clock()
    this.transport = new Transport(socket, request.compress)
    this.settings = handler.settings()
    this.limiter = new SendRateLimiter(this.settings.rateLimit, clock)
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary))
    socket.on('close', (code) => this.onClose(code))
    socket.on('error', () => socket.terminate())
  }

  get authenticated(): boolean {
    return this.session !== null
  }

  get open(): boolean {
    return this.transport.open
  }

  /** Sends HELLO and arms the heartbeat deadline (the first one counts from HELLO). */
  start(): void {
    this.sendOp(GatewayOp.Hello, { heartbeat_interval: this.settings.heartbeatIntervalMs })
    if (this.request.version !== 9 && this.request.version !== 10) {
      this.close(GatewayCloseCode.InvalidAPIVersion, 'Invalid API version.')
      return
    }
    this.armHeartbeatDeadline()
  }

  send(payload: GatewayPayload): void {
    this.transport.send(payload)
  }

  sendOp(op: number, d: unknown): void {
    this.transport.send({ op, d, s: null, t: null })
  }

  /** Server-initiated close; the code is what stats and the session logic see. */
  close(code: number, reason = ''): void {
    if (this.serverCloseCode !== null || this.finished) return
    this.serverCloseCode = code
    this.handler.closing(this, code)
    this.transport.close(code, reason)
  }

  deauthenticate(): void {
    this.session = null
  }

  /** Abrupt drop with no close frame (teardown). */
  terminate(): void {
    this.transport.terminate()
  }

  /** Runs `fn` after `ms` unless the socket closes first. */
  later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (!this.finished) fn()
    }, ms)
    this.timers.add(timer)
  }

  private armHeartbeatDeadline(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer)
    this.heartbeatTimer = setTimeout(() => {
      this.close(GatewayCloseCode.UnknownError, 'Heartbeat timeout.')
    }, this.settings.heartbeatTimeoutMs)
  }

  private onMessage(data: RawData, _isBinary: boolean): void {
    if (this.serverCloseCode !== null || this.finished) return
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
    if (buf.length > MAX_CLIENT_PAYLOAD_BYTES) return this.close(GatewayCloseCode.DecodeError, 'Payload too large.')
    let payload: unknown
    try {
      payload = JSON.parse(buf.toString('utf8'))
    } catch {
      return this.close(GatewayCloseCode.DecodeError, 'Error while decoding payload.')
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      return this.close(GatewayCloseCode.DecodeError, 'Error while decoding payload.')
    }
    const p = payload as GatewayPayload
    if (this.overRateLimit(p.op)) {
      this.handler.rateLimited(this)
      return this.close(GatewayCloseCode.RateLimited, 'You are being rate limited.')
    }
    if (typeof p.op !== 'number' || !CLIENT_OPS.has(p.op)) return this.close(GatewayCloseCode.UnknownOpcode, 'Unknown opcode.')
    if (!this.authenticated && !PRE_AUTH_OPS.has(p.op)) return this.close(GatewayCloseCode.NotAuthenticated, 'Not authenticated.')
    if (this.authenticated && (p.op === GatewayOp.Identify || p.op === GatewayOp.Resume)) {
      return this.close(GatewayCloseCode.AlreadyAuthenticated, 'Already authenticated.')
    }
    switch (p.op) {
      case GatewayOp.Heartbeat:
        this.heartbeats++
        this.armHeartbeatDeadline()
        if (this.handler.shouldAck(this)) this.sendOp(GatewayOp.HeartbeatAck, null)
        return
      case GatewayOp.Identify:
        return this.handler.identify(this, p.d)
      case GatewayOp.Resume:
        return this.handler.resume(this, p.d)
      default:
        return this.handler.command(this, p)
    }
  }

  private overRateLimit(op: unknown): boolean {
    if (op === GatewayOp.Heartbeat && !this.settings.rateLimit.countHeartbeats) return false
    return this.limiter.hit()
  }

  private onClose(code: number): void {
    if (this.finished) return
    this.finished = true
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    const initiator: CloseInitiator = this.serverCloseCode !== null ? 'server' : 'client'
    this.handler.closed(this, this.serverCloseCode ?? code, initiator)
  }
}

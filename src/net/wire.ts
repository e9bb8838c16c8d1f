/**
 * A framed connection over one TLS socket: deframing, write batching (one cork per tick), write
 * backpressure signalling, PING/PONG liveness with an RTT estimate, and GOAWAY on deliberate closes.
 * It knows nothing about sessions or handshakes; its owner swaps `onFrame` as the link progresses.
 */
import { performance } from 'node:perf_hooks'
import type { Socket } from 'node:net'
import { ProtocolError, ShardingError } from '../errors.js'
import { FrameType } from './constants.js'
import { Deframer } from './deframer.js'
import type { DownReason } from './errors.js'
import { decodePayload, encodeEmptyFrame, encodeFrame, type Frame } from './frame.js'
import { parseGoAway, type GoAway, type Heartbeat } from './handshake.js'

/** Why a framed connection ended; owners turn it into LinkDownError or LinkRefusedError. */
export interface CloseInfo {
  kind: DownReason
  message: string
  /** Code of the GOAWAY we received (kind GOAWAY) or sent (kind PROTOCOL/LOCAL). */
  code?: string
  cause?: unknown
}

const GOAWAY_LINGER_MS = 2_000
const RTT_ALPHA = 0.2
const MAX_PINGS_IN_FLIGHT = 8

export class FrameSocket {
  onFrame: (frame: Frame) => void = () => {}
  onDrain: () => void = () => {}
  onClose: (info: CloseInfo) => void = () => {}
  onRtt: (rttMs: number) => void = () => {}

  blocked = false
  bytesIn = 0
  bytesOut = 0
  rttMs: number | null = null
  private lastRx = performance.now()
  private closeInfo: CloseInfo | null = null
  private closed = false
  private corked = false
  private deframer: Deframer
  private hbTimer: NodeJS.Timeout | null = null
  private lingerTimer: NodeJS.Timeout | null = null
  private pingSeq = 0
  private pings = new Map<number, number>()

  constructor(
    readonly socket: Socket,
    maxFrameBytes: number,
  ) {
    this.deframer = new Deframer((f) => this.dispatch(f), maxFrameBytes)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('drain', () => {
      this.blocked = false
      if (!this.closeInfo) this.onDrain()
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.note({ kind: 'ERROR', message: `socket error: ${err.code ?? ''} ${err.message}`.trim(), code: err.code, cause: err })
    })
    socket.on('end', () => this.note({ kind: 'CLOSED', message: 'the peer closed the connection without GOAWAY' }))
    socket.on('close', () => this.finish())
  }

  get isClosing(): boolean {
    return this.closeInfo !== null || this.closed
  }

  set maxFrameBytes(n: number) {
    this.deframer.maxFrameBytes = n
  }

  /** Writes a complete frame. Returns false when the socket buffer is full (wait for onDrain). */
  write(frame: Buffer): boolean {
    if (this.isClosing) return false
    if (!this.corked) {
      // Batch every frame written in this tick into as few TLS records/syscalls as possible.
      this.corked = true
      this.socket.cork()
      process.nextTick(this.uncork)
    }
    this.bytesOut += frame.length
    if (!this.socket.write(frame)) this.blocked = true
    return !this.blocked
  }

  private uncork = (): void => {
    this.corked = false
    if (!this.socket.destroyed) this.socket.uncork()
  }

  /** Starts PINGs and the silence timer with the negotiated heartbeat. */
  startHeartbeat(hb: Heartbeat): void {
    this.stopHeartbeat()
    this.lastRx = performance.now()
    this.hbTimer = setInterval(() => {
      const silent = performance.now() - this.lastRx
      if (silent > hb.timeout) {
        this.destroy({ kind: 'LIVENESS', message: `no data from the peer for ${Math.round(silent)} ms (limit ${hb.timeout} ms)` })
        return
      }
      const id = (this.pingSeq = (this.pingSeq + 1) >>> 0)
      if (this.pings.size >= MAX_PINGS_IN_FLIGHT) this.pings.delete(this.pings.keys().next().value as number)
      this.pings.set(id, performance.now())
      this.write(encodeEmptyFrame(FrameType.PING, id))
    }, hb.interval)
    this.hbTimer.unref()
  }

  private stopHeartbeat(): void {
    if (this.hbTimer) clearInterval(this.hbTimer)
    this.hbTimer = null
  }

  /** Sends GOAWAY and closes gracefully; the peer surfaces `reason`. */
  goAway(code: string, reason: string, kind: DownReason = 'LOCAL'): void {
    if (this.isClosing) return
    this.note({ kind, code, message: reason })
    this.stopHeartbeat()
    this.socket.end(encodeFrame(FrameType.GOAWAY, 0, { code, reason } satisfies GoAway))
    this.lingerTimer = setTimeout(() => this.socket.destroy(), GOAWAY_LINGER_MS)
    this.lingerTimer.unref()
  }

  /** Closes at once, without GOAWAY (dead peer, or a test cutting the wire). */
  destroy(info: CloseInfo = { kind: 'LOCAL', message: 'connection destroyed locally' }): void {
    this.note(info)
    this.stopHeartbeat()
    this.socket.destroy()
  }

  private note(info: CloseInfo): void {
    if (!this.closeInfo) this.closeInfo = info
  }

  private onData(chunk: Buffer): void {
    if (this.isClosing) return
    this.bytesIn += chunk.length
    this.lastRx = performance.now()
    try {
      this.deframer.push(chunk)
    } catch (err) {
      const e = err instanceof ShardingError ? err : new ProtocolError(String((err as Error)?.message ?? err))
      // Never resync: tell the peer why and drop the connection.
      this.goAway(e.code, e.message, 'PROTOCOL')
      if (this.closeInfo) this.closeInfo.cause = e
    }
  }

  private dispatch(f: Frame): void {
    if (this.isClosing) return
    switch (f.type) {
      case FrameType.PING:
        this.write(encodeEmptyFrame(FrameType.PONG, f.id))
        return
      case FrameType.PONG: {
        const sent = this.pings.get(f.id)
        if (sent !== undefined) {
          this.pings.delete(f.id)
          const rtt = performance.now() - sent
          this.rttMs = this.rttMs === null ? rtt : this.rttMs + RTT_ALPHA * (rtt - this.rttMs)
          this.onRtt(this.rttMs)
        }
        return
      }
      case FrameType.GOAWAY: {
        const g = parseGoAway(safeDecode(f))
        this.note({ kind: 'GOAWAY', code: g.code, message: g.reason })
        this.stopHeartbeat()
        this.socket.end()
        return
      }
      default:
        this.onFrame(f)
    }
  }

  private finish(): void {
    if (this.closed) return
    this.closed = true
    this.stopHeartbeat()
    if (this.lingerTimer) clearTimeout(this.lingerTimer)
    this.note({ kind: 'CLOSED', message: 'the connection closed' })
    this.onClose(this.closeInfo!)
  }
}

function safeDecode(f: Frame): unknown {
  try {
    return decodePayload(f)
  } catch {
    return undefined
  }
}

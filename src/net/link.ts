/**
 * The session layer shared by both ends: a MessageLink whose messages survive reconnects.
 * Every MSG carries a per-session sequence number; the receiver delivers in order, drops duplicates
 * and acknowledges cumulatively; the sender keeps every unacknowledged frame (bounded) and sends it
 * again after a reconnect, from the peer's last delivered sequence. A session is replaced only when
 * the peer cannot resume it, and the application is told ('session' with the undelivered messages).
 *
 * Subclasses (LinkClient, LinkServer) own connecting and the handshake; they hand a ready
 * FrameSocket to attach().
 */
import { EventEmitter } from 'node:events'
import type { TLSSocket } from 'node:tls'
import { ProtocolError, ShardingError } from '../errors.js'
import { Capability, FrameType, UDP_CONTROL_TYPES } from './constants.js'
import { LinkClosedError, LinkDownError } from './errors.js'
import { decodePayload, encodeEmptyFrame, encodeFrame, frameTypeName, parseFrame, setFrameId, type Frame } from './frame.js'
import type { Negotiated } from './handshake.js'
import type { ResolvedCommon } from './options.js'
import { StderrReporter } from './report-limiter.js'
import { Inbox, Outbox, seqFromWire, seqToWire } from './session.js'
import type { CloseInfo, FrameSocket } from './wire.js'
import type { ControlEvent, DatagramTransport, DownEvent, LinkStats, MessageLink, PeerInfo, SessionEvent, UpEvent } from './types.js'

export type { ControlEvent, DatagramTransport, DownEvent, LinkStats, MessageLink, PeerInfo, SessionEvent, UpEvent } from './types.js'

/** What a withdrawn message is replaced by; receivers skip it (it still counts as delivered). */
const WITHDRAWN = { __withdrawn: 1 }

function isWithdrawn(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { __withdrawn?: unknown }).__withdrawn === 1 && Object.keys(v).length === 1
}

export abstract class Link extends EventEmitter implements MessageLink {
  protected readonly outbox: Outbox
  protected readonly inbox = new Inbox<Frame>()
  protected sessionId: string | null = null
  protected conn: FrameSocket | null = null
  protected peer: PeerInfo | null = null
  protected negotiated: Negotiated | null = null
  protected closing = false
  private ackTimer: NodeJS.Timeout | null = null
  private deliveredSinceAck = 0
  private highestTransmitted = 0
  private dgram: DatagramTransport | null = null
  private flushWaiters = new Set<() => void>()
  private closedBytesIn = 0
  private closedBytesOut = 0
  private counters = { messagesSent: 0, messagesReceived: 0, messagesDropped: 0, retransmitted: 0, connects: 0, resumes: 0, newSessions: 0, downs: 0 }
  private lastDownReason: string | null = null
  private lastRttMs: number | null = null
  /** Where problems nobody listens for go, rate-limited per link (created on first use). */
  private stderr: StderrReporter | null = null
  /** A send() was refused with BACKPRESSURE; 'drain' is due once the queue is half empty. */
  private backpressured = false

  constructor(protected readonly common: ResolvedCommon) {
    super()
    this.outbox = new Outbox({ maxBytes: common.maxQueuedBytes, maxMessages: common.maxQueuedMessages })
  }

  abstract close(reason?: string): Promise<void>

  /**
   * A throwing listener must break neither the link nor the process: the exception would otherwise
   * unwind through the frame parser (taken for a protocol error) or, rethrown, crash the manager
   * on one malformed message. It goes to 'error' listeners, or to stderr (rate-limited).
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error') {
      if (this.listenerCount('error') === 0) {
        this.reportUnheard('link errors', args[0])
        return false
      }
      try {
        return super.emit(event, ...args)
      } catch (err) {
        this.reportUnheard('link listener errors', err, "an 'error' listener of the link threw")
        return true
      }
    }
    const listeners = this.rawListeners(event) as Array<(...a: unknown[]) => void>
    if (listeners.length === 0) return false
    // Each listener on its own, so one throwing does not hide the event from the others.
    for (const l of listeners) {
      try {
        l.apply(this, args)
      } catch (err) {
        if (this.listenerCount('error') > 0) this.emit('error', err)
        else this.reportUnheard('link listener errors', err, `a '${String(event)}' listener of the link threw`)
      }
    }
    return true
  }

  private reportUnheard(kind: string, err: unknown, context?: string): void {
    const what = err instanceof Error ? `${err.name}${(err as { code?: string }).code ? ` ${(err as { code?: string }).code}` : ''}: ${err.message}` : String(err)
    this.stderr ??= new StderrReporter()
    this.stderr.report(kind, `link to ${this.peerName()}: ${context ? `${context}: ` : ''}${what}`)
  }

  /** Name of the other end for messages: the peer's label once known. */
  protected abstract peerName(): string

  get up(): boolean {
    return this.conn !== null
  }

  /** Negotiated capabilities of the current connection (empty while down). */
  get caps(): readonly string[] {
    return this.conn ? (this.negotiated?.caps ?? []) : []
  }

  get peerInfo(): PeerInfo | null {
    return this.peer
  }

  /**
   * Queues `msg` for the peer. null and undefined go out as they are, but the receiving link drops
   * them with a report (onMessageFrame): tests use that to play a hostile peer.
   */
  /** Queues a message; returns its sequence number (see withdraw). */
  send(msg: unknown): number {
    if (this.closing) throw new LinkClosedError()
    let frame: Buffer
    try {
      frame = encodeFrame(FrameType.MSG, 0, msg)
    } catch (err) {
      throw new ProtocolError(`cannot encode message: ${(err as Error).message}`, 'ENCODE_FAILED')
    }
    const limit = this.negotiated?.maxFrame ?? this.common.maxFrameBytes
    if (frame.length - 4 > limit) {
      throw new ProtocolError(`message of ${frame.length - 10} bytes exceeds the frame limit of ${limit} bytes`, 'FRAME_TOO_LARGE')
    }
    try {
      this.outbox.checkRoom(frame.length, this.peerName())
    } catch (err) {
      this.backpressured = true
      throw err
    }
    const seq = this.outbox.push(frame)
    setFrameId(frame, seqToWire(seq))
    this.counters.messagesSent++
    this.pump()
    return seq
  }

  /**
   * Takes back a message whose sender no longer wants it delivered (a request whose caller gave
   * up while the link was down): while the peer has not acknowledged it, it is replaced by a
   * withdrawn marker the peer skips. It may still have been delivered already; then the peer drops
   * the replacement as a duplicate. Returns whether it could still be replaced.
   */
  withdraw(seq: number): boolean {
    const frame = encodeFrame(FrameType.MSG, 0, WITHDRAWN)
    setFrameId(frame, seqToWire(seq))
    return this.outbox.replace(seq, frame)
  }

  /** Sends a UDP_SETUP/UDP_REKEY control frame (only while up and when 'udp' was negotiated). */
  sendControl(type: number, value: unknown, id = 0): void {
    if (!UDP_CONTROL_TYPES.has(type)) throw new ProtocolError(`${frameTypeName(type)} is not a control frame type`, 'BAD_CONTROL')
    if (!this.conn || !this.caps.includes(Capability.UDP)) {
      throw new ShardingError('LINK_DOWN', `cannot send ${frameTypeName(type)}: the link is down or 'udp' was not negotiated`)
    }
    this.conn.write(encodeFrame(type, id, value))
  }

  /** The TLS socket of the live connection (null while down), e.g. for deriveUdpKeys. */
  get tlsSocket(): TLSSocket | null {
    return (this.conn?.socket as TLSSocket | undefined) ?? null
  }

  /** RFC 5705 keying material of the current TLS connection, or undefined while down. */
  exportKeyingMaterial(length: number, label: string, context: Buffer): Buffer | undefined {
    const s = this.conn?.socket as { exportKeyingMaterial?: (l: number, lb: string, c: Buffer) => Buffer } | undefined
    return s?.exportKeyingMaterial?.(length, label, context)
  }

  /** Carries MSG/ACK frames over `t` as well as TLS until `t` dies or the link goes down. */
  attachDatagramTransport(t: DatagramTransport): void {
    if (!this.conn) throw new ShardingError('LINK_DOWN', 'a datagram transport can only be attached while the link is up')
    this.detachDatagramTransport()
    this.dgram = t
    t.on('message', this.onDatagram)
    t.on('dead', this.onDatagramDead)
    this.emit('datagramUp')
  }

  detachDatagramTransport(): void {
    const t = this.dgram
    if (!t) return
    this.dgram = null
    t.off('message', this.onDatagram)
    t.off('dead', this.onDatagramDead)
    t.close()
  }

  /** Test hook: cuts the current connection without GOAWAY, as a network failure would. */
  destroyTransport(reason = 'transport destroyed'): void {
    this.conn?.destroy({ kind: 'ERROR', message: reason })
  }

  stats(): LinkStats {
    return {
      up: this.up,
      sessionId: this.sessionId,
      peer: this.peer,
      rttMs: this.lastRttMs,
      ...this.counters,
      duplicatesDropped: this.inbox.duplicates,
      queuedMessages: this.outbox.size,
      queuedBytes: this.outbox.bytes,
      unsentMessages: this.outbox.untransmitted,
      bytesIn: this.closedBytesIn + (this.conn?.bytesIn ?? 0),
      bytesOut: this.closedBytesOut + (this.conn?.bytesOut ?? 0),
      datagram: this.dgram !== null,
      lastDownReason: this.lastDownReason,
    }
  }

  /** Emits 'error' only when someone listens: a link problem must never crash the process. */
  protected emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  /** Last sequence we delivered; sent as `lastSeq` in HELLO.resume / WELCOME. */
  protected get lastDelivered(): number {
    return this.inbox.lastDelivered
  }

  /** Whether the peer's resume point fits this session's outbox. */
  protected canResumeAt(peerLastSeq: number): boolean {
    return peerLastSeq >= this.outbox.acked && peerLastSeq < this.outbox.nextSeq
  }

  /**
   * Makes `conn` the live connection of a session. For a new session (not resumed) the previous
   * session's unacknowledged messages are dropped and reported; messages queued before the first
   * session ever are kept and become the start of it.
   */
  protected attach(conn: FrameSocket, p: { sessionId: string; resumed: boolean; peerLastSeq: number; negotiated: Negotiated; peer: PeerInfo }): void {
    const previous = this.sessionId
    let undelivered: unknown[] = []
    if (!p.resumed) {
      if (previous !== null) undelivered = this.outbox.clear().map(decodeMsgFrame)
      this.inbox.reset()
      this.highestTransmitted = 0
      this.sessionId = p.sessionId
    }
    const retransmitting = this.outbox.rewind(p.resumed ? p.peerLastSeq : 0)
    this.conn = conn
    this.negotiated = p.negotiated
    this.peer = p.peer
    conn.maxFrameBytes = this.common.maxFrameBytes
    conn.onFrame = (f) => this.onLinkFrame(f)
    conn.onDrain = () => this.pump()
    conn.onClose = (info) => this.onConnectionClosed(conn, info)
    conn.onRtt = (rttMs) => {
      this.lastRttMs = rttMs
      this.emit('rtt', rttMs)
    }
    conn.startHeartbeat(p.negotiated.hb)
    this.counters.connects++
    if (p.resumed) {
      this.counters.resumes++
      this.emit('resumed', { sessionId: p.sessionId, peer: p.peer, retransmitting })
    } else {
      this.counters.newSessions++
      this.emit('session', { sessionId: p.sessionId, previousSessionId: previous, peer: p.peer, undelivered } satisfies SessionEvent)
    }
    if (this.conn !== conn) return // a listener closed it
    this.emit('up', { sessionId: p.sessionId, resumed: p.resumed, peer: p.peer, caps: p.negotiated.caps, retransmitting } satisfies UpEvent)
    this.pump()
  }

  /** Ends the current session for good (close()): no resume will be offered or accepted. */
  protected forgetSession(): void {
    this.sessionId = null
  }

  /** Waits until every queued message is acknowledged, the link drops, or `ms` pass. */
  protected waitFlushed(ms: number): Promise<void> {
    if (this.outbox.empty || !this.conn || ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.flushWaiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.flushWaiters.add(done)
    })
  }

  /** Closes the live connection with GOAWAY and resolves once the socket is gone. */
  protected async goAwayAndWait(code: string, reason: string): Promise<void> {
    const conn = this.conn
    if (!conn) return
    const closed = new Promise<void>((resolve) => conn.socket.once('close', () => resolve()))
    // A final ACK, so the peer does not count what we delivered as undelivered if the session ends.
    if (this.ackTimer || this.deliveredSinceAck > 0) this.sendAck()
    conn.goAway(code, reason)
    await closed
  }

  /** Hook for subclasses: the live connection just went down (after 'down' was emitted). */
  protected afterDown(_err: LinkDownError): void {}

  private pump(): void {
    const conn = this.conn
    if (!conn) return
    for (;;) {
      if (conn.blocked && !this.dgram) return
      const next = this.outbox.take()
      if (!next) return
      if (next.seq <= this.highestTransmitted) this.counters.retransmitted++
      else this.highestTransmitted = next.seq
      if (this.dgram?.send(next.frame)) continue
      conn.write(next.frame)
      if (conn.blocked) return
    }
  }

  private onLinkFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.MSG:
        return this.onMessageFrame(f)
      case FrameType.ACK: {
        this.outbox.ack(seqFromWire(f.id, this.outbox.acked))
        if (this.outbox.empty) for (const w of [...this.flushWaiters]) w()
        if (this.backpressured && this.outbox.bytes * 2 <= this.outbox.limits.maxBytes && this.outbox.size * 2 <= this.outbox.limits.maxMessages) {
          this.backpressured = false
          this.emit('drain')
        }
        return
      }
      case FrameType.UDP_SETUP:
      case FrameType.UDP_REKEY:
        if (!this.caps.includes(Capability.UDP)) {
          throw new ProtocolError(`${frameTypeName(f.type)} received but 'udp' was not negotiated`, 'UNEXPECTED_FRAME')
        }
        this.emit('control', { type: f.type, id: f.id, value: decodePayload(f) } satisfies ControlEvent)
        return
      default:
        throw new ProtocolError(`unexpected ${frameTypeName(f.type)} frame on an established link`, 'UNEXPECTED_FRAME')
    }
  }

  /**
   * A message frame is delivered in order. A gap (a message ahead of one still missing) is only
   * possible while a datagram transport carries some messages; then the early ones are parked,
   * bounded. On TLS alone a gap is a protocol error (GOAWAY SEQ_GAP).
   *
   * A message that decodes to nothing (empty payload, msgpack nil) or does not decode at all is
   * dropped with a report and counted as delivered: refusing the connection instead would only
   * make the peer resume and send the same frame again, forever.
   */
  private onMessageFrame(f: Frame): void {
    const seq = seqFromWire(f.id, this.inbox.expected)
    if (this.inbox.isDuplicate(seq)) {
      this.inbox.duplicates++
      return
    }
    // A parked frame must not pin the socket chunk it arrived in: copy its payload.
    const item = seq === this.inbox.expected ? f : { ...f, payload: Buffer.from(f.payload) }
    const ready = this.inbox.accept(seq, item, f.payload.length, this.dgram !== null)
    if (ready.length === 0) return
    const first = this.inbox.lastDelivered - ready.length + 1
    this.counters.messagesReceived += ready.length
    this.deliveredSinceAck += ready.length
    for (let i = 0; i < ready.length; i++) {
      const value = this.decodeMessage(ready[i]!, first + i)
      if (value !== undefined) this.emit('message', value)
    }
    if (this.deliveredSinceAck >= this.common.ackEvery) this.sendAck()
    else if (!this.ackTimer && this.conn) {
      this.ackTimer = setTimeout(() => this.sendAck(), this.common.ackDelayMs)
      this.ackTimer.unref()
    }
  }

  /** The message's value, or undefined when it was dropped (and reported). */
  private decodeMessage(f: Frame, seq: number): unknown {
    let value: unknown
    try {
      value = decodePayload(f)
    } catch (err) {
      return this.dropMessage(seq, (err as Error).message)
    }
    if (value === null || value === undefined) {
      return this.dropMessage(seq, f.payload.length === 0 ? 'its payload is empty' : `its payload decodes to ${value}`)
    }
    if (isWithdrawn(value)) return undefined
    return value
  }

  private dropMessage(seq: number, why: string): undefined {
    this.counters.messagesDropped++
    this.emit('error', new ProtocolError(`dropped message ${seq} from ${this.peerName()}: ${why}`, 'BAD_MESSAGE'))
    return undefined
  }

  private sendAck(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer)
    this.ackTimer = null
    this.deliveredSinceAck = 0
    this.conn?.write(encodeEmptyFrame(FrameType.ACK, seqToWire(this.inbox.lastDelivered)))
  }

  private onDatagram = (payload: Buffer): void => {
    const conn = this.conn
    if (!conn) return
    try {
      if (payload.length < 10 || payload.readUInt32BE(0) !== payload.length - 4) {
        throw new ProtocolError('datagram does not hold exactly one frame', 'FRAME_MALFORMED')
      }
      const f = parseFrame(payload.subarray(4))
      if (f.type !== FrameType.MSG && f.type !== FrameType.ACK) {
        throw new ProtocolError(`${frameTypeName(f.type)} frame is not allowed on the datagram transport`, 'UNEXPECTED_FRAME')
      }
      this.onLinkFrame(f)
    } catch (err) {
      const e = err instanceof ShardingError ? err : new ProtocolError(String(err))
      conn.goAway(e.code, e.message, 'PROTOCOL')
    }
  }

  private onDatagramDead = (reason: unknown): void => {
    this.detachDatagramTransport()
    // Whatever the datagram path swallowed goes again over TLS; the receiver drops duplicates.
    this.outbox.rewind(this.outbox.acked)
    this.emit('datagramDown', { reason })
    this.pump()
  }

  /** Replaces the live connection without a 'down' event (the same peer resumed on a new one). */
  protected retire(conn: FrameSocket, code: string, reason: string): void {
    if (this.conn !== conn) return
    this.release(conn)
    conn.goAway(code, reason, 'SUPERSEDED')
  }

  private release(conn: FrameSocket): void {
    this.conn = null
    this.closedBytesIn += conn.bytesIn
    this.closedBytesOut += conn.bytesOut
    if (this.ackTimer) clearTimeout(this.ackTimer)
    this.ackTimer = null
    this.deliveredSinceAck = 0
    this.detachDatagramTransport()
    this.outbox.rewind(this.outbox.acked)
    for (const w of [...this.flushWaiters]) w()
  }

  private onConnectionClosed(conn: FrameSocket, info: CloseInfo): void {
    if (this.conn !== conn) return
    this.release(conn)
    const name = this.peerName()
    const message =
      info.kind === 'GOAWAY' ? `${name} closed the link: ${info.message} (${info.code})` : `link to ${name} went down: ${info.message}`
    const error = new LinkDownError(name, info.kind, message, info.kind === 'GOAWAY' ? info.code : undefined, info.cause)
    this.counters.downs++
    this.lastDownReason = message
    this.emit('down', { error, sessionId: this.sessionId } satisfies DownEvent)
    this.afterDown(error)
  }
}

function decodeMsgFrame(frame: Buffer): unknown {
  return decodePayload(parseFrame(frame.subarray(4)))
}

/**
 * The parent side of a machine link: dials a child over mutual TLS 1.3, says HELLO, and counts the
 * link as up only on WELCOME (in TLS 1.3 a client whose certificate the server rejects still sees
 * secureConnect). Reconnects forever with backoff until close(), resuming the session when the
 * child still holds it.
 *
 * Events: 'up' UpEvent · 'down' DownEvent · 'session' SessionEvent · 'resumed' · 'message' (value)
 * · 'refused' RefusedEvent · 'reconnecting' { attempt, delayMs, error } · 'control' ControlEvent
 * · 'drain' (after a BACKPRESSURE refusal, once the queue is half empty) · 'rtt' (ms) · 'datagramUp' · 'datagramDown'
 * · 'closed' · 'error' (only emitted when a listener exists).
 */
import { isIP } from 'node:net'
import * as tls from 'node:tls'
import { OptionsError, ProtocolError, ShardingError, TimeoutError } from '../errors.js'
import { Backoff, type BackoffOptions } from './backoff.js'
import { DEFAULT_LINK_PORT, FrameType } from './constants.js'
import { LinkRefusedError } from './errors.js'
import { decodePayload, encodeFrame, frameTypeName } from './frame.js'
import { buildHello, parseWelcome, type HandshakeParams } from './handshake.js'
import { Link } from './link.js'
import { HANDSHAKE_MAX_FRAME_BYTES, positiveInt, resolveCommon, resolveInfo, type LinkCommonOptions, type LinkTlsOptions } from './options.js'
import { CERTIFICATE_REFUSED, checkPeer, cleanAddress, describeTlsError, loadTlsMaterial, type TlsMaterial } from './tls-config.js'
import { FrameSocket } from './wire.js'

export interface LinkClientOptions extends LinkCommonOptions {
  /** The child's address: IPv4, IPv6 (e.g. '::1') or a DNS name. */
  host: string
  /** Default 8379. */
  port?: number
  tls: LinkTlsOptions
  reconnect?: BackoffOptions
  /** Prefix of option names in error messages, e.g. 'machines.points[0].'. */
  fieldPrefix?: string
  /** Advertised protocol version range; only tests change it. */
  protocol?: { v?: number; minV?: number }
}

const NOT_TRUSTED_HINT = "it probably refused our certificate: check that it is in the child's trusted list (--trust)"

/**
 * What to do about a connect error that says little by itself. A link-local IPv6 address (fe80::/10)
 * exists once per interface, so the kernel refuses to dial one without its zone (EINVAL).
 */
export function connectHint(host: string, code: string): string {
  if (code === 'EINVAL' && isIP(host) === 6 && /^fe[89ab][0-9a-f]:/i.test(host) && !host.includes('%')) {
    return `; ${host} is a link-local IPv6 address, which is only reachable through a named interface: write it with its zone, like '${host}%eth0', or use the server's global address`
  }
  return ''
}

export interface RefusedEvent {
  code: string
  reason: string
  error: LinkRefusedError
  /** Client: the child's address. Server: the remote address of the refused connection. */
  remoteAddress: string
  /**
   * Server only, on a summary: how many refusals of this address and code the rate limit
   * (refusalsPerSecond) held back since the last summary. Absent on an individual refusal.
   */
  suppressed?: number
}

export class LinkClient extends Link {
  readonly host: string
  readonly port: number
  private readonly material: TlsMaterial
  private readonly secureContext: tls.SecureContext
  private readonly backoff: Backoff
  private readonly params: HandshakeParams
  private attemptSocket: tls.TLSSocket | null = null
  private reconnectTimer: NodeJS.Timeout | null = null
  private started = false
  private closePromise: Promise<void> | null = null

  constructor(opts: LinkClientOptions) {
    const prefix = opts?.fieldPrefix ?? ''
    super(resolveCommon(opts, prefix))
    if (typeof opts.host !== 'string' || opts.host.length === 0) throw new OptionsError(`${prefix}host`, 'is required: the child machine address')
    this.host = opts.host.replace(/^\[(.*)\]$/, '$1')
    this.port = positiveInt(`${prefix}port`, opts.port, DEFAULT_LINK_PORT, 1, 65535)
    this.material = loadTlsMaterial(opts.tls, 'client', `${prefix}tls.`)
    // One context per point, reused by every reconnect (no session tickets are ever passed).
    this.secureContext = tls.createSecureContext({
      key: this.material.identity.keyPem,
      cert: this.material.identity.certPem,
      ca: this.material.trust.pems,
      minVersion: 'TLSv1.3',
    })
    this.backoff = new Backoff(opts.reconnect)
    this.params = {
      nodeId: this.common.nodeId,
      role: 'parent',
      caps: this.common.caps,
      maxFrame: this.common.maxFrameBytes,
      hb: { interval: this.common.heartbeatIntervalMs, timeout: this.common.heartbeatTimeoutMs },
      ...opts.protocol,
    }
  }

  /** Trust-list warnings found while loading (expired entries, wrong key usage, duplicates). */
  get warnings(): readonly string[] {
    return this.material.warnings
  }

  /** Starts dialling (idempotent). Messages sent before 'up' are queued. */
  connect(): this {
    if (this.closing) throw new ShardingError('LINK_CLOSED', 'connect() after close(); create a new LinkClient')
    if (!this.started) {
      this.started = true
      this.attempt()
    }
    return this
  }

  close(reason = 'the parent closed the link'): Promise<void> {
    if (this.closePromise) return this.closePromise
    this.closing = true
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = null
    this.attemptSocket?.destroy()
    this.closePromise = (async () => {
      await this.waitFlushed(this.common.closeTimeoutMs)
      await this.goAwayAndWait('SHUTDOWN', reason)
      this.forgetSession()
      this.emit('closed', { undelivered: this.outbox.size })
    })()
    return this.closePromise
  }

  protected peerName(): string {
    return this.peer?.label ?? (isIP(this.host) === 6 ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`)
  }

  protected override afterDown(err: ShardingError): void {
    this.scheduleReconnect(err)
  }

  private scheduleReconnect(err: ShardingError): void {
    if (this.closing || this.reconnectTimer) return
    const delayMs = this.backoff.next()
    this.emit('reconnecting', { attempt: this.backoff.attempts, delayMs, error: err })
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      this.attempt()
    }, delayMs)
  }

  private attempt(): void {
    if (this.closing) return
    const target = this.peerName()
    const pins = this.material.trust.pins
    const sock = tls.connect({
      host: this.host,
      port: this.port,
      secureContext: this.secureContext,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: this.material.rejectUnauthorized,
      // SNI only for DNS names: an IP in servername is forbidden (RFC 6066, DEP0123).
      ...(isIP(this.host) === 0 ? { servername: this.host } : {}),
      // Identity is the pinned fingerprint, so certificates without an IP SAN work when dialled by IP.
      checkServerIdentity: (_host, cert) =>
        pins.has(cert.fingerprint256)
          ? undefined
          : Object.assign(new Error(`server certificate ${cert.fingerprint256} is not in the trust list`), { code: 'NOT_PINNED' }),
    })
    this.attemptSocket = sock
    let settled = false
    let secured = false
    const fail = (err: ShardingError, refused: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (this.attemptSocket === sock) this.attemptSocket = null
      sock.destroy()
      if (this.closing) return
      if (refused && err instanceof LinkRefusedError) {
        this.emit('refused', { code: err.code, reason: err.message, error: err, remoteAddress: target } satisfies RefusedEvent)
      }
      this.emitError(err)
      this.scheduleReconnect(err)
    }
    const timer = setTimeout(
      () => fail(new TimeoutError(`no WELCOME from ${target} within ${this.common.handshakeTimeoutMs} ms`), false),
      this.common.handshakeTimeoutMs,
    )
    timer.unref()

    let tcpUp = false
    sock.once('connect', () => (tcpUp = true))
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (secured) return // the FrameSocket owns errors from here on
      const code = err.code ?? 'TLS_ERROR'
      if (tcpUp && (code === 'ECONNRESET' || code === 'EPIPE')) {
        // Reached, then cut mid-handshake: an older child refusing our certificate, or one shedding load.
        const why = `${target} reset the connection during the TLS handshake (${code}): ${NOT_TRUSTED_HINT}, or it is overloaded`
        fail(new LinkRefusedError('HANDSHAKE_RESET', why, true, { cause: err }), true)
      } else if (err.syscall) {
        fail(new ShardingError('CONNECT_FAILED', `cannot reach ${target}: ${code} ${err.message}${connectHint(this.host, code)}`, { cause: err }), false)
      } else {
        fail(new LinkRefusedError(code, `TLS handshake with ${target} failed: ${describeTlsError(code, err.message)} (${code})`, false, { cause: err }), true)
      }
    })
    sock.once('close', () => {
      if (!secured) fail(new ShardingError('CONNECT_FAILED', `connection to ${target} closed during the TLS handshake`), false)
    })
    sock.once('secureConnect', () => {
      secured = true
      const check = checkPeer(sock, this.material)
      if (!check.ok) return fail(new LinkRefusedError(check.code, `refusing server ${target}: ${check.reason}`, false), true)
      sock.setNoDelay(true)
      sock.setKeepAlive(true, this.common.keepAliveMs)
      const fs = new FrameSocket(sock, HANDSHAKE_MAX_FRAME_BYTES)
      const resume = this.sessionId ? { sessionId: this.sessionId, lastSeq: this.lastDelivered } : undefined
      const hello = buildHello(this.params, resume, resolveInfo(this.common.info))
      fs.onFrame = (f) => {
        if (f.type !== FrameType.WELCOME) throw new ProtocolError(`expected WELCOME, got ${frameTypeName(f.type)}`, 'UNEXPECTED_FRAME')
        const w = parseWelcome(decodePayload(f), hello)
        if (w.resumed && !this.canResumeAt(w.lastSeq)) {
          throw new ProtocolError(`server resumed at message ${w.lastSeq}, which this side never sent`, 'BAD_RESUME')
        }
        settled = true
        clearTimeout(timer)
        this.attemptSocket = null
        this.backoff.reset()
        this.attach(fs, {
          sessionId: w.sessionId,
          resumed: w.resumed,
          peerLastSeq: w.lastSeq,
          negotiated: { v: w.v, caps: w.caps, maxFrame: w.maxFrame, hb: w.hb },
          peer: { label: check.label, fingerprint: check.fingerprint, nodeId: w.nodeId, info: w.info, remoteAddress: cleanAddress(sock.remoteAddress), remotePort: sock.remotePort ?? this.port },
        })
      }
      fs.onClose = (info) => {
        if (info.kind === 'GOAWAY' && info.code === CERTIFICATE_REFUSED) {
          fail(new LinkRefusedError(CERTIFICATE_REFUSED, `${target} refused our certificate: ${info.message}`, true), true)
        } else if (info.kind === 'GOAWAY') {
          fail(new LinkRefusedError(info.code ?? 'REFUSED', `${target} refused the link: ${info.message}`, true), true)
        } else if (info.kind === 'PROTOCOL') {
          fail(new LinkRefusedError(info.code ?? 'PROTOCOL', `handshake with ${target} failed: ${info.message}`, false), true)
        } else {
          // A child that checks certificates in TLS (older versions) closes or resets without a word.
          const why = `${target} closed the connection before WELCOME without saying why (${info.message}): ${NOT_TRUSTED_HINT}`
          fail(new LinkRefusedError('HANDSHAKE_CLOSED', why, true, { cause: info.cause }), true)
        }
      }
      fs.write(encodeFrame(FrameType.HELLO, 0, hello))
    })
  }
}

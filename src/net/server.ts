/**
 * The child side of a machine link: a mutual-TLS 1.3 listener that accepts ONE parent at a time.
 * While the attached parent's link is up, any other HELLO (another parent, or a new session) is
 * refused with GOAWAY ALREADY_ATTACHED; once it is down, a resuming HELLO continues the session and
 * a new one replaces it (that is how a restarted parent re-adopts this child). Every refusal, at
 * the TLS or the protocol level, is reported as a 'refused' event (rate-limited per address and
 * code, with a summary of the rest); none affects the attached link.
 *
 * Connections that have not proven who they are get a deadline (handshakeTimeoutMs from TCP
 * accept to HELLO, TLS included) and bounded room (src/net/admission.ts): a full pool closes its
 * least advanced, oldest member instead of refusing the newcomer, so a flood, even from the real
 * parent's own address, costs the child bounded memory, descriptors and CPU and never locks the
 * parent out. The client certificate is checked after the TLS handshake, so a refused parent
 * hears why in a GOAWAY (CERTIFICATE_REFUSED) instead of a bare reset.
 *
 * The server is itself the MessageLink to the attached parent: send() queues for it (also while
 * no parent is attached), 'message' delivers from it.
 *
 * Events: 'listening' { port, addresses } · 'session' SessionEvent · 'resumed' · 'up' UpEvent ·
 * 'down' DownEvent · 'message' · 'refused' RefusedEvent · 'control' · 'drain' · 'rtt' · 'datagramUp' · 'datagramDown'
 * · 'warning' (string) · 'closed'
 * · 'error' (only emitted when a listener exists).
 */
import { randomBytes } from 'node:crypto'
import { isIP, type Socket } from 'node:net'
import * as tls from 'node:tls'
import { OptionsError, ProtocolError, ShardingError } from '../errors.js'
import { Admission, Progress, type Eviction } from './admission.js'
import { DEFAULT_LINK_PORT, FrameType } from './constants.js'
import { ListenError } from './errors.js'
import { decodePayload, encodeFrame, frameTypeName } from './frame.js'
import { buildWelcome, checkVersion, negotiate, parseHello, readVersions, type GoAway, type HandshakeParams, type Hello } from './handshake.js'
import { Link, type PeerInfo } from './link.js'
import { HANDSHAKE_MAX_FRAME_BYTES, positiveInt, resolveCommon, resolveInfo, resolveServerLimits, type LinkCommonOptions, type LinkServerLimits, type LinkTlsOptions } from './options.js'
import { RefusalReporter } from './report-limiter.js'
import { CERTIFICATE_REFUSED, checkPeer, cleanAddress, describeCertRefusal, describeTlsError, loadTlsMaterial, type TlsMaterial } from './tls-config.js'
import { FrameSocket } from './wire.js'

export interface LinkServerOptions extends LinkCommonOptions {
  /** Address(es) to listen on. Default '::' (all IPv6 and, dual-stack, IPv4; falls back to 0.0.0.0). */
  host?: string | readonly string[]
  /** Default 8379; 0 picks a free port (shared by every host). */
  port?: number
  tls: LinkTlsOptions
  /** Must stay true: links are mutual TLS only. Accepted for config compatibility. */
  requestCert?: boolean
  /**
   * Connections that have not finished TLS (or were refused and are closing), from all addresses
   * together. When full, the least advanced, oldest of them is closed to make room. Default 256.
   */
  maxUnauthenticated?: number
  /** The same, per remote address (IPv6: per /64). Default 32, at most maxUnauthenticated. */
  maxUnauthenticatedPerAddress?: number
  /**
   * Connections per trusted certificate that finished TLS but not HELLO yet; when full, that
   * certificate's oldest is closed. Per certificate, so another trusted certificate cannot delay
   * the parent. Default 8.
   */
  maxPendingHandshakes?: number
  /** 'refused' events per remote address and code per second; the rest are summed up. Default 3. */
  refusalsPerSecond?: number
  /** How often the summary of suppressed refusals is emitted ("N more refused from X in the last 10 s"). Default 10 000. */
  refusalSummaryMs?: number
  /** Last word on a HELLO after TLS and pinning: return a string to refuse with that reason. */
  authorize?: (peer: PeerInfo, hello: Hello) => string | true | undefined
  /** Prefix of option names in error messages, e.g. 'machines.'. */
  fieldPrefix?: string
  /** Spoken protocol version range; only tests change it. */
  protocol?: { v?: number; minV?: number }
}

function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
}

/** One accepted connection until it becomes the session or closes. */
interface Pending {
  raw: Socket
  address: string
  stage: 'tls' | 'hello' | 'refused'
  /** Set once the TLS handshake is done and the certificate trusted. */
  label: string | null
  fs: FrameSocket | null
  timer: NodeJS.Timeout | null
  /** A refusal was reported for it already. */
  reported: boolean
}

export class LinkServer extends Link {
  private readonly material: TlsMaterial
  private readonly params: HandshakeParams
  private readonly hosts: string[]
  private readonly defaultHost: boolean
  private readonly limits: LinkServerLimits
  private readonly authorize: LinkServerOptions['authorize']
  private readonly admission: Admission<Pending>
  private readonly refusals: RefusalReporter
  private trimQueued = false
  private servers: tls.Server[] = []
  /** Every connection not (yet) the session, by its TCP socket. */
  private conns = new Map<Socket, Pending>()
  /** The same, also after they closed, for TLS errors reported late (weak: no leak). */
  private byRaw = new WeakMap<Socket, Pending>()
  private sessionFingerprint: string | null = null
  private boundPort: number
  private closePromise: Promise<void> | null = null

  constructor(private readonly opts: LinkServerOptions) {
    const prefix = opts?.fieldPrefix ?? ''
    const limits = resolveServerLimits(opts ?? {}, prefix)
    super(resolveCommon({ ...opts, handshakeTimeoutMs: limits.handshakeTimeoutMs }, prefix))
    this.limits = limits
    if (opts.requestCert === false) throw new OptionsError(`${prefix}tls.requestCert`, 'must be true: machine links are mutual TLS only')
    this.defaultHost = opts.host === undefined
    this.hosts = (typeof opts.host === 'string' ? [opts.host] : [...(opts.host ?? ['::'])]).map((h) => h.replace(/^\[(.*)\]$/, '$1'))
    this.boundPort = positiveInt(`${prefix}port`, opts.port, DEFAULT_LINK_PORT, 0, 65535)
    this.authorize = opts.authorize
    this.material = loadTlsMaterial(opts.tls, 'server', `${prefix}tls.`)
    this.admission = new Admission<Pending>(limits, progressOf)
    this.refusals = new RefusalReporter({ perSecond: limits.refusalsPerSecond, summaryMs: limits.refusalSummaryMs }, (e) => this.emit('refused', e))
    this.params = {
      nodeId: this.common.nodeId,
      role: 'child',
      caps: this.common.caps,
      maxFrame: this.common.maxFrameBytes,
      hb: { interval: this.common.heartbeatIntervalMs, timeout: this.common.heartbeatTimeoutMs },
      ...opts.protocol,
    }
  }

  get warnings(): readonly string[] {
    return this.material.warnings
  }

  /** The bound port (after listen(); the configured one before). */
  get port(): number {
    return this.boundPort
  }

  /** Connections that have not become the session: still in TLS or refused (`unauthenticated`), or waiting for HELLO. */
  connectionCounts(): { unauthenticated: number; pendingHello: number; addresses: number } {
    return this.admission.counts
  }

  async listen(): Promise<{ port: number; addresses: string[] }> {
    if (this.closing) throw new ShardingError('LINK_CLOSED', 'listen() after close()')
    if (this.servers.length > 0) throw new ShardingError('ALREADY_LISTENING', 'listen() was already called')
    for (const w of this.material.warnings) this.emit('warning', w)
    const addresses: string[] = []
    try {
      for (const host of this.hosts) {
        addresses.push(await this.listenOn(host))
      }
    } catch (err) {
      await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))))
      this.servers = []
      throw err
    }
    this.emit('listening', { port: this.boundPort, addresses })
    return { port: this.boundPort, addresses }
  }

  close(reason = 'the child manager is shutting down'): Promise<void> {
    if (this.closePromise) return this.closePromise
    this.closing = true
    this.closePromise = (async () => {
      const stopped = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())))
      for (const p of this.conns.values()) p.fs?.goAway('SHUTDOWN', reason)
      await this.waitFlushed(this.common.closeTimeoutMs)
      await this.goAwayAndWait('SHUTDOWN', reason)
      for (const p of [...this.conns.values()]) this.forget(p, true)
      await Promise.all(stopped)
      this.refusals.flush()
      this.forgetSession()
      this.emit('closed', { undelivered: this.outbox.size })
    })()
    return this.closePromise
  }

  protected peerName(): string {
    return this.peer?.label ?? 'the parent'
  }

  private createServer(): tls.Server {
    const m = this.material
    const srv = tls.createServer({
      key: m.identity.keyPem,
      cert: m.identity.certPem,
      ca: m.trust.pems,
      requestCert: true,
      // The certificate is still verified (sock.authorized), but checked in checkPeer after the
      // handshake, so the refused client hears why (GOAWAY) instead of seeing a reset.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      // Node's own timer only reports; ours (from accept, see onConnection) closes. A backstop.
      handshakeTimeout: this.limits.handshakeTimeoutMs + 1000,
      ...(m.dhparam !== undefined ? { dhparam: m.dhparam } : {}),
    })
    srv.on('connection', (raw: Socket) => this.onConnection(raw))
    srv.on('secureConnection', (sock) => this.onSecureConnection(sock))
    srv.on('tlsClientError', (err: NodeJS.ErrnoException, sock: tls.TLSSocket) => {
      const p = this.pendingOf(sock)
      sock?.destroy()
      if (!p || p.reported) return
      const code = String(err.code ?? 'TLS_ERROR')
      this.refuse(p, code, `TLS handshake refused: ${describeTlsError(code, err.message)} (${code})`)
    })
    srv.on('error', (err) => this.emitError(err))
    return srv
  }

  private listenOn(host: string): Promise<string> {
    const srv = this.createServer()
    return new Promise<string>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        srv.off('listening', onListening)
        if (err.code === 'EAFNOSUPPORT' && this.defaultHost && host === '::') {
          // No IPv6 on this machine: fall back to IPv4 only.
          this.listenOn('0.0.0.0').then(resolve, reject)
          return
        }
        const where = hostPort(host, this.boundPort)
        const what: Record<string, [string, string]> = {
          EADDRINUSE: ['ADDRESS_IN_USE', 'the address is already in use (is another child manager running on it?)'],
          EADDRNOTAVAIL: ['ADDRESS_NOT_AVAILABLE', 'this machine has no such address'],
          EACCES: ['PERMISSION_DENIED', 'permission denied (ports below 1024 need privileges)'],
        }
        const [code, text] = what[err.code ?? ''] ?? ['LISTEN_FAILED', err.message]
        reject(new ListenError(code, where, `cannot listen on ${where}: ${text}`, err))
      }
      const onListening = (): void => {
        srv.off('error', onError)
        const addr = srv.address()
        if (addr && typeof addr === 'object') this.boundPort = addr.port
        this.servers.push(srv)
        resolve(hostPort(host, this.boundPort))
      }
      srv.once('error', onError)
      srv.once('listening', onListening)
      srv.listen({ host, port: this.boundPort })
    })
  }

  // ---- connections before HELLO ----

  private onConnection(raw: Socket): void {
    if (this.closing) return void raw.destroy()
    const p: Pending = { raw, address: cleanAddress(raw.remoteAddress), stage: 'tls', label: null, fs: null, timer: null, reported: false }
    this.conns.set(raw, p)
    this.byRaw.set(raw, p)
    raw.once('close', () => {
      this.forget(p, false)
      // tls.Server reports a handshake cut short ('tlsClientError') after the TCP socket closed.
      if (p.stage === 'tls' && !this.closing) setImmediate(() => this.refuse(p, 'CLOSED_DURING_TLS', `closed the connection during the TLS handshake (${p.raw.bytesRead} bytes received)`))
    })
    this.admission.admit(p, p.address)
    p.timer = setTimeout(() => this.expire(p), this.limits.handshakeTimeoutMs)
    p.timer.unref()
    if (this.admission.overCap && !this.trimQueued) {
      // Trim after the next poll phase, which reads what this burst's connections already sent:
      // at accept time a real ClientHello and an idle socket look the same.
      this.trimQueued = true
      setImmediate(() =>
        setImmediate(() => {
          this.trimQueued = false
          for (const e of this.admission.trim()) this.evict(e)
        }),
      )
    }
  }

  /** The Pending of a TLS socket: tls.Server wraps the TCP socket it announced in 'connection'. */
  private pendingOf(sock: tls.TLSSocket | undefined): Pending | undefined {
    const parent = (sock as unknown as { _parent?: Socket } | undefined)?._parent
    const p = parent ? this.byRaw.get(parent) : undefined
    if (p || !sock) return p
    for (const q of this.conns.values()) if (q.raw.remotePort === sock.remotePort && q.address === cleanAddress(sock.remoteAddress)) return q
    return undefined
  }

  /** The deadline from accept to HELLO passed. */
  private expire(p: Pending): void {
    p.timer = null
    const ms = this.limits.handshakeTimeoutMs
    if (p.stage === 'hello' && p.fs) {
      this.refuse(p, 'HANDSHAKE_TIMEOUT', `no HELLO within ${ms} ms of connecting`)
      return p.fs.goAway('HANDSHAKE_TIMEOUT', `no HELLO within ${ms} ms of connecting`, 'PROTOCOL')
    }
    if (p.stage === 'tls') this.refuse(p, 'HANDSHAKE_TIMEOUT', `no TLS handshake within ${ms} ms (${p.raw.bytesRead} bytes received)`)
    this.forget(p, true)
  }

  /** Closed to make room for a newer connection (see Admission). */
  private evict(e: Eviction<Pending>): void {
    const p = e.conn
    if (p.stage !== 'refused') {
      const room =
        e.pool === 'certificate'
          ? `maxPendingHandshakes=${this.limits.maxPendingHandshakes} for certificate ${p.label}`
          : e.pool === 'address'
            ? `maxUnauthenticatedPerAddress=${this.limits.maxUnauthenticatedPerAddress} from ${e.key}`
            : `maxUnauthenticated=${this.limits.maxUnauthenticated}`
      const what = p.stage === 'tls' ? 'TLS handshake not finished' : 'no HELLO yet'
      this.refuse(p, 'EVICTED', `${what}; closed to make room for a newer connection (${room})`)
    }
    this.forget(p, true)
  }

  /** Stops tracking `p`; with `destroy`, closes its socket too. Idempotent. */
  private forget(p: Pending, destroy: boolean): void {
    if (p.timer) clearTimeout(p.timer)
    p.timer = null
    this.admission.release(p)
    this.conns.delete(p.raw)
    if (destroy) {
      if (p.fs) p.fs.destroy({ kind: 'LOCAL', message: 'closed before HELLO' })
      p.raw.destroy()
    }
  }

  /** Reports a refusal of `p` (once per connection) and marks it as first to evict. */
  private refuse(p: Pending, code: string, reason: string, remote = false): void {
    p.stage = 'refused'
    if (p.reported) return
    p.reported = true
    const who = p.label ? `${p.address} (${p.label})` : p.address
    this.refusals.report(p.address, code, `refusing ${who}: ${reason}`, remote)
  }

  private onSecureConnection(sock: tls.TLSSocket): void {
    const p = this.pendingOf(sock)
    if (this.closing || !p || p.stage !== 'tls') return void sock.destroy()
    const remoteAddress = p.address
    const remotePort = sock.remotePort ?? 0
    const check = checkPeer(sock, this.material)
    if (!check.ok) {
      this.refuse(p, check.code, check.reason)
      // Tell the client why, then close; its data is never read. The deadline destroys the rest.
      const why: GoAway = { code: CERTIFICATE_REFUSED, reason: describeCertRefusal(check.code, check.fingerprint) }
      sock.end(encodeFrame(FrameType.GOAWAY, 0, why))
      return
    }
    p.label = check.label
    p.stage = 'hello'
    for (const e of this.admission.prove(p, check.fingerprint)) this.evict(e)
    sock.setNoDelay(true)
    sock.setKeepAlive(true, this.common.keepAliveMs)
    const fs = new FrameSocket(sock, HANDSHAKE_MAX_FRAME_BYTES)
    p.fs = fs
    const refuse = (code: string, reason: string): void => {
      this.refuse(p, code, reason)
      fs.goAway(code, reason, 'PROTOCOL')
    }
    fs.onClose = (info) => {
      if (p.reported || p.stage !== 'hello') return
      const code = info.code ?? (info.kind === 'CLOSED' ? 'CLOSED_BEFORE_HELLO' : info.kind)
      this.refuse(p, code, info.message, info.kind === 'GOAWAY')
    }
    fs.onFrame = (f) => {
      if (f.type !== FrameType.HELLO) throw new ProtocolError(`expected HELLO, got ${frameTypeName(f.type)}`, 'UNEXPECTED_FRAME')
      const raw = decodePayload(f)
      const { v, minV } = readVersions(raw)
      const version = checkVersion(v, minV, this.params.minV, this.params.v)
      if (!version.ok) return refuse('VERSION_MISMATCH', version.reason)
      const hello = parseHello(raw)
      const peer: PeerInfo = { label: check.label, fingerprint: check.fingerprint, nodeId: hello.nodeId, info: hello.info, remoteAddress, remotePort }
      const verdict = this.authorize?.(peer, hello)
      if (typeof verdict === 'string') return refuse('UNAUTHORIZED_PEER', verdict)
      const r = hello.resume
      const resumable =
        r !== undefined && r.sessionId === this.sessionId && check.fingerprint === this.sessionFingerprint && this.canResumeAt(r.lastSeq)
      const attached = this.conn
      if (attached && !resumable) {
        const who = this.peer ? `${this.peer.label}, node ${this.peer.nodeId}` : 'unknown'
        return refuse('ALREADY_ATTACHED', `a parent is already attached (${who}); this child accepts one parent at a time`)
      }
      if (this.closing) return refuse('SHUTDOWN', 'the child manager is shutting down')
      // It is the session now: no deadline, no pool.
      this.forget(p, false)
      p.stage = 'refused' // any later close of this Pending is not a refusal
      p.reported = true
      // Same session on a new connection: the old one is a half-open leftover.
      if (attached) this.retire(attached, 'SUPERSEDED', 'the parent resumed this session on a new connection')
      const sessionId = resumable ? this.sessionId! : randomBytes(16).toString('hex')
      const n = negotiate(this.params, hello, version.v)
      const welcome = buildWelcome(this.params, n, { sessionId, resumed: resumable, lastSeq: resumable ? this.lastDelivered : 0 }, resolveInfo(this.common.info))
      fs.write(encodeFrame(FrameType.WELCOME, 0, welcome))
      this.sessionFingerprint = check.fingerprint
      this.attach(fs, { sessionId, resumed: resumable, peerLastSeq: resumable ? r!.lastSeq : 0, negotiated: n, peer })
    }
  }
}

function progressOf(p: Pending): number {
  if (p.stage === 'refused') return Progress.REFUSED
  return p.raw.bytesRead > 0 ? Progress.STARTED : Progress.SILENT
}

/**
 * The child side of a machine link: a mutual-TLS 1.3 listener that accepts ONE parent at a time.
 * While the attached parent's link is up, any other HELLO (another parent, or a new session) is
 * refused with GOAWAY ALREADY_ATTACHED; once it is down, a resuming HELLO continues the session and
 * a new one replaces it (that is how a restarted parent re-adopts this child). Every refusal, at
 * the TLS or the protocol level, is reported as a 'refused' event; none affects the attached link.
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
import { DEFAULT_LINK_PORT, FrameType } from './constants.js'
import { LinkRefusedError, ListenError } from './errors.js'
import { decodePayload, encodeFrame, frameTypeName } from './frame.js'
import { buildWelcome, checkVersion, negotiate, parseHello, readVersions, type HandshakeParams, type Hello } from './handshake.js'
import { Link, type PeerInfo } from './link.js'
import type { RefusedEvent } from './client.js'
import { HANDSHAKE_MAX_FRAME_BYTES, positiveInt, resolveCommon, resolveInfo, type LinkCommonOptions, type LinkTlsOptions } from './options.js'
import { checkPeer, cleanAddress, describeTlsError, loadTlsMaterial, type TlsMaterial } from './tls-config.js'
import { FrameSocket } from './wire.js'

export interface LinkServerOptions extends LinkCommonOptions {
  /** Address(es) to listen on. Default '::' (all IPv6 and, dual-stack, IPv4; falls back to 0.0.0.0). */
  host?: string | readonly string[]
  /** Default 8379; 0 picks a free port (shared by every host). */
  port?: number
  tls: LinkTlsOptions
  /** Must stay true: links are mutual TLS only. Accepted for config compatibility. */
  requestCert?: boolean
  /** Connections that finished TLS but not HELLO yet. Default 32. */
  maxPendingHandshakes?: number
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

export class LinkServer extends Link {
  private readonly material: TlsMaterial
  private readonly params: HandshakeParams
  private readonly hosts: string[]
  private readonly defaultHost: boolean
  private readonly maxPending: number
  private readonly authorize: LinkServerOptions['authorize']
  private servers: tls.Server[] = []
  private pending = new Set<FrameSocket>()
  private rawSockets = new Set<Socket>()
  private sessionFingerprint: string | null = null
  private boundPort: number
  private closePromise: Promise<void> | null = null

  constructor(private readonly opts: LinkServerOptions) {
    const prefix = opts?.fieldPrefix ?? ''
    super(resolveCommon(opts, prefix))
    if (opts.requestCert === false) throw new OptionsError(`${prefix}tls.requestCert`, 'must be true: machine links are mutual TLS only')
    this.defaultHost = opts.host === undefined
    this.hosts = (typeof opts.host === 'string' ? [opts.host] : [...(opts.host ?? ['::'])]).map((h) => h.replace(/^\[(.*)\]$/, '$1'))
    this.boundPort = positiveInt(`${prefix}port`, opts.port, DEFAULT_LINK_PORT, 0, 65535)
    this.maxPending = positiveInt(`${prefix}maxPendingHandshakes`, opts.maxPendingHandshakes, 32)
    this.authorize = opts.authorize
    this.material = loadTlsMaterial(opts.tls, 'server', `${prefix}tls.`)
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
      for (const fs of this.pending) fs.goAway('SHUTDOWN', reason)
      await this.waitFlushed(this.common.closeTimeoutMs)
      await this.goAwayAndWait('SHUTDOWN', reason)
      for (const fs of this.pending) fs.destroy()
      for (const raw of this.rawSockets) raw.destroy()
      await Promise.all(stopped)
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
      rejectUnauthorized: m.rejectUnauthorized,
      minVersion: 'TLSv1.3',
      handshakeTimeout: this.common.handshakeTimeoutMs,
      ...(m.dhparam !== undefined ? { dhparam: m.dhparam } : {}),
    })
    // Track raw sockets so close() need not wait for handshakes in progress (up to handshakeTimeout).
    srv.on('connection', (raw: Socket) => {
      this.rawSockets.add(raw)
      raw.once('close', () => this.rawSockets.delete(raw))
    })
    srv.on('secureConnection', (sock) => this.onSecureConnection(sock))
    srv.on('tlsClientError', (err: NodeJS.ErrnoException, sock: tls.TLSSocket) => {
      // With rejectUnauthorized the real reason is on the socket, not in the (generic) error.
      const authErr = sock?.authorizationError as unknown
      const code = String((authErr as { code?: string })?.code ?? authErr ?? err.code ?? 'TLS_ERROR')
      this.refused(cleanAddress(sock?.remoteAddress), code, `TLS handshake refused: ${describeTlsError(code, err.message)} (${code})`, false)
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

  private refused(remoteAddress: string, code: string, reason: string, remote: boolean): void {
    const error = new LinkRefusedError(code, reason, remote)
    this.emit('refused', { remoteAddress, code, reason, error } satisfies RefusedEvent)
  }

  private onSecureConnection(sock: tls.TLSSocket): void {
    const remoteAddress = cleanAddress(sock.remoteAddress)
    const remotePort = sock.remotePort ?? 0
    if (this.closing) return void sock.destroy()
    const check = checkPeer(sock, this.material)
    if (!check.ok) {
      sock.destroy()
      return this.refused(remoteAddress, check.code, `refusing ${remoteAddress}: ${check.reason}`, false)
    }
    if (this.pending.size >= this.maxPending) {
      sock.destroy()
      return this.refused(remoteAddress, 'TOO_MANY_PENDING', `refusing ${remoteAddress} (${check.label}): ${this.maxPending} handshakes already pending`, false)
    }
    sock.setNoDelay(true)
    sock.setKeepAlive(true, this.common.keepAliveMs)
    const fs = new FrameSocket(sock, HANDSHAKE_MAX_FRAME_BYTES)
    this.pending.add(fs)
    let decided = false
    const refuse = (code: string, reason: string): void => {
      decided = true
      this.refused(remoteAddress, code, `refusing ${remoteAddress} (${check.label}): ${reason}`, false)
      fs.goAway(code, reason, 'PROTOCOL')
    }
    const timer = setTimeout(() => refuse('HANDSHAKE_TIMEOUT', `no HELLO within ${this.common.handshakeTimeoutMs} ms`), this.common.handshakeTimeoutMs)
    timer.unref()
    fs.onClose = (info) => {
      clearTimeout(timer)
      this.pending.delete(fs)
      if (decided) return
      const code = info.code ?? (info.kind === 'CLOSED' ? 'CLOSED_BEFORE_HELLO' : info.kind)
      this.refused(remoteAddress, code, `refusing ${remoteAddress} (${check.label}): ${info.message}`, info.kind === 'GOAWAY')
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
      decided = true
      clearTimeout(timer)
      this.pending.delete(fs)
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

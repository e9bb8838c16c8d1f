/**
 * A child manager (MACHINES, `me: 'child'`): listens in standby on its port, accepts one parent at
 * a time over mutual TLS, and runs the slice of shards the parent assigns as a local PROCESSES or
 * WORKERS pool. The parent is the control plane only: when the link drops, the shards keep
 * running; a parent that reconnects (or restarts) with the same assignment re-adopts them as they
 * are. Everything the parent sends is checked before it touches the running pool.
 */
import { isIP } from 'node:net'
import { LinkLostError, ShardingError } from '../errors.js'
import { toWireError, type WireError } from '../ipc/values.js'
import type { Backend, ManagerStatus } from '../manager/backend.js'
import { InstancePool } from '../manager/instance-pool.js'
import { driverFor, instanceSettings, type ManagerEvents } from '../manager/local-backend.js'
import type { ResolvedOptions } from '../manager/options.js'
import { planInstances } from '../manager/shard-plan.js'
import { PoolBackend } from '../manager/pool-backend.js'
import { LinkServer, serveUdp, type RefusedEvent, type SessionEvent } from '../net/index.js'
import { UdpEndpoint } from '../net/udp/index.js'
import { withDeadline } from '../rpc/scope.js'
import { RpcEndpoint, type CallContext } from '../rpc/endpoint.js'
import { envelope } from '../ipc/envelope.js'
import { monotonicNow } from '../util/clock.js'
import { linkTimings, linkTls } from './link-config.js'
import { field, readAction, readAssignment, readEnvelope, readTarget } from './messages.js'
import { checkAssignmentPolicy, checkParent } from './policy.js'
import { LinkOps, sameSlice, type Assignment, type StatusMessage } from './protocol.js'
import { RemoteHost, type ParentLink } from './remote-host.js'

type ChildConfig = Extract<NonNullable<ResolvedOptions['machines']>, { me: 'child' }>

/** Identify turns older than this cannot constrain a new parent's schedule (one window is 5 s). */
const IDENTIFY_MEMORY_MS = 60_000

export class ChildBackend extends PoolBackend implements Backend {
  private readonly config: ChildConfig
  private readonly server: LinkServer
  private readonly rpc: RpcEndpoint
  /** Fingerprint of the parent whose assignment the running pool carries. */
  private owner: string | null = null
  private assignment: Assignment | null = null
  private host: RemoteHost | null = null
  private pool: InstancePool | null = null
  private poolReady = false
  private poolFailed: WireError | null = null
  private udp: UdpEndpoint | null = null
  /** The port this child listens on (useful with port 0). */
  listeningPort: number | null = null
  private statusTimer: NodeJS.Timeout | null = null
  private statusQueued = false
  /** When each shard last got an identify turn; told to every new parent so it keeps the windows. */
  private readonly identifyTimes = new Map<number, number>()
  private readonly attachWaiters = new Set<() => void>()
  /** Serialises assignment changes so a stop and a start never interleave. */
  private work: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly events: ManagerEvents,
  ) {
    super()
    this.config = opts.machines as ChildConfig
    this.server = new LinkServer({
      host: this.config.host,
      port: this.config.port,
      nodeId: `child@${this.config.host}:${this.config.port}`,
      tls: linkTls(this.config.tls, 'machines.tls'),
      fieldPrefix: 'machines.',
      ...(this.config.udp ? { caps: ['udp'] } : {}),
      ...linkTimings(this.config.link),
      authorize: (peer) => checkParent(peer.fingerprint, this.config.policy, this.owner) ?? true,
    })
    this.rpc = new RpcEndpoint(
      {
        name: 'the parent',
        post: (msg) => this.server.send(msg),
        reachable: () => this.server.up,
        unreachableError: (what) => new LinkLostError('parent', `${what}: the parent is not attached`),
        errorWhere: { machine: 'parent' },
        onProtocolError: (err) => this.refuseMessage(err),
      },
      (kind, d, ctx) => this.serve(kind, d, ctx),
    )
    this.server.on('message', (msg) => this.onMessage(msg))
    this.server.on('session', (e: SessionEvent) => {
      // A new parent session: nothing of the previous one will be answered any more. Calls to the
      // root (identify turns, start slots) are asked again of the new parent (RemoteHost).
      this.rpc.failAll(new LinkLostError('parent', 'the parent started a new session'))
      this.events.emitEvent('debug', `parent ${e.peer.nodeId} (${e.peer.label}) attached from ${e.peer.remoteAddress}`)
    })
    this.server.on('up', () => {
      for (const wake of [...this.attachWaiters]) wake()
      this.pushStatus()
    })
    this.server.on('down', (e) => this.events.emitEvent('debug', `parent link down: ${e.error.message}${this.pool ? '; shards keep running' : ''}`))
    this.server.on('refused', (e: RefusedEvent) => this.events.emitEvent('machineError', { machine: 'parent', address: e.remoteAddress, code: e.code, reason: e.reason }))
    this.server.on('warning', (w) => this.events.emitEvent('debug', `tls: ${w}`))
    this.server.on('error', (err: Error) => this.events.emitEvent('debug', `parent link: ${err.message}`))
  }

  get totalShards(): number | null {
    return this.assignment?.totalShards ?? null
  }

  /** Listens in standby; resolves once the port is open. */
  async start(): Promise<void> {
    const { port, addresses } = await this.server.listen()
    this.listeningPort = port
    if (this.config.udp) {
      // Same port number as TCP, on the same address: one firewall rule per protocol.
      this.udp = new UdpEndpoint({ type: isIP(this.config.host) === 6 ? 'udp6' : 'udp4', port, address: this.config.host })
      await this.udp.listen()
      serveUdp(this.server, this.udp)
    }
    this.events.emitEvent('debug', `child manager listening on ${addresses.join(', ')} (port ${port}); waiting for a parent`)
    this.events.emitEvent('listening', { port, addresses })
  }

  /** Stops the local instances first, then closes the listener. */
  async stop(): Promise<void> {
    await this.enqueue(() => this.stopPool())
    await this.server.close()
    this.udp?.close()
  }

  status(): ManagerStatus {
    return {
      mode: this.opts.mode,
      role: 'child',
      totalShards: this.totalShards,
      ready: this.poolReady,
      identify: null,
      machines: [{ id: this.assignment?.machineId ?? 'standby', state: this.server.up ? 'attached' : 'standby', instances: this.pool?.status() ?? [] }],
    }
  }

  /** Requests in flight to and from the parent, and on every instance channel. */
  inFlight(): number {
    const r = this.rpc.inFlight
    return r.calls + r.serving + (this.pool?.inFlight() ?? 0)
  }

  private readonly parentLink: ParentLink = {
    call: (kind, data, scope) => this.rpc.call(kind, data, scope),
    send: (op, d) => this.sendQuietly(op, d),
    attached: (signal) =>
      new Promise<void>((resolve, reject) => {
        if (this.server.up) return resolve()
        const wake = () => {
          this.attachWaiters.delete(wake)
          signal.removeEventListener('abort', onAbort)
          resolve()
        }
        const onAbort = () => {
          this.attachWaiters.delete(wake)
          reject(signal.reason)
        }
        this.attachWaiters.add(wake)
        signal.addEventListener('abort', onAbort, { once: true })
      }),
  }

  private onMessage(raw: unknown): void {
    let msg
    try {
      msg = readEnvelope(raw)
    } catch (err) {
      return this.refuseMessage(err as Error)
    }
    if (this.rpc.handle(msg)) return
    if (msg.op === LinkOps.ASSIGN) return void this.enqueue(() => this.applyAssignment(msg.d))
    // A parent on a newer version may send ops we do not know: say so, never crash on it.
    this.refuseMessage(new ShardingError('UNKNOWN_OP', `unknown message ${JSON.stringify(msg.op)} from the parent; ignored`))
  }

  private refuseMessage(err: Error): void {
    this.events.emitEvent('machineError', { machine: 'parent', code: (err as ShardingError).code ?? 'MALFORMED_MESSAGE', reason: err.message })
  }

  private async serve(kind: string, d: Record<string, unknown>, ctx: CallContext): Promise<unknown> {
    switch (kind) {
      case 'fanout': {
        const action = readAction(d.action)
        if (!this.config.policy.eval && (action.type === 'eval' || action.type === 'script')) {
          throw new ShardingError('EVAL_REFUSED', 'this child does not run code sent as text (--no-eval / policy.eval: false); use request, send or fetchClientValues')
        }
        return this.requirePool().run(action, readTarget(d.target), ctx)
      }
      case 'respawn':
        await withDeadline(this.requirePool().get(field.int(d.instance, 'instance')).respawn(), ctx, 'the respawn')
        return null
      case 'rolling':
        await withDeadline(this.requirePool().rollingRestart(), ctx, 'the rolling restart')
        return null
      case 'stopShards':
        await this.enqueue(() => this.stopPool())
        return null
      default:
        throw new ShardingError('UNKNOWN_OP', `unknown parent request ${JSON.stringify(kind)}; are parent and child on the same discordoo-sharding version?`)
    }
  }

  private async applyAssignment(raw: unknown): Promise<void> {
    let a: Assignment
    try {
      a = readAssignment(raw, this.config.limits)
      checkAssignmentPolicy(a, this.config.policy)
    } catch (err) {
      // Refused before anything changed: the running pool (if any) keeps running.
      this.sendQuietly(LinkOps.ASSIGNED, { refused: toWireError(err) })
      this.events.emitEvent('machineError', { machine: 'parent', code: 'ASSIGNMENT_REFUSED', reason: (err as Error).message })
      return
    }
    if (this.pool && this.assignment && sameSlice(this.assignment, a)) {
      // Re-adoption: a (restarted) parent asks for what already runs. Keep every shard as it is.
      this.assignment.machineId = a.machineId
      this.sendQuietly(LinkOps.ASSIGNED, { adopted: true, sessions: this.host!.sessions.all(), instances: this.pool.status(), recentIdentifies: this.recentIdentifies() })
      this.pushStatus()
      return
    }
    await this.stopPool()
    if (!this.opts.file) {
      this.sendQuietly(LinkOps.ASSIGNED, { refused: toWireError(new ShardingError('NO_FILE', 'this child manager has no client file (file option / --file)')) })
      return
    }
    this.assignment = { ...a }
    this.owner = this.server.peerInfo ? this.server.peerInfo.fingerprint : null
    const host = new RemoteHost(this.assignment, this.parentLink, this.identifyTimes, (name, ...args) => this.onLocalEvent(name, ...args), (e) => this.events.listenerCount(e))
    this.host = host
    const driver = driverFor(a.mode)
    const settings = instanceSettings({ ...this.opts, env: { ...this.opts.env, ...a.env }, execArgv: [...this.opts.execArgv, ...a.execArgv], args: a.args.length ? a.args : this.opts.args }, driver, this.opts.file)
    settings.respawn = a.respawn
    settings.restarts = a.restarts
    settings.timeouts = a.timeouts
    const pool = new InstancePool(host, settings, planInstances(a.shards, a.shardsPerInstance, a.firstInstanceId))
    host.setPool(pool)
    this.pool = pool
    this.poolReady = false
    this.poolFailed = null
    this.sendQuietly(LinkOps.ASSIGNED, { adopted: false, sessions: [], instances: pool.status(), recentIdentifies: this.recentIdentifies() })
    this.events.emitEvent('debug', `assigned shards ${a.shards[0]}-${a.shards[a.shards.length - 1]} of ${a.totalShards} (${a.mode})`)
    // Status is state, not a log: a periodic refresh, sent only while a parent is attached.
    this.statusTimer = setInterval(() => this.pushStatus(), Math.max(1000, a.timeouts.heartbeatInterval))
    this.statusTimer.unref()
    pool.startAll().then(
      () => {
        if (this.pool !== pool) return
        this.poolReady = true
        this.pushStatus()
        this.events.emitEvent('ready')
      },
      (err: Error) => {
        if (this.pool !== pool) return
        this.poolFailed = toWireError(err)
        this.pushStatus()
        this.events.emitEvent('error', err)
      },
    )
  }

  private recentIdentifies(): { shardId: number; agoMs: number }[] {
    const now = monotonicNow()
    const out: { shardId: number; agoMs: number }[] = []
    for (const [shardId, at] of this.identifyTimes) {
      if (now - at > IDENTIFY_MEMORY_MS) this.identifyTimes.delete(shardId)
      else out.push({ shardId, agoMs: Math.round(now - at) })
    }
    return out
  }

  private onLocalEvent(name: string, ...args: unknown[]): void {
    this.events.emitEvent(name, ...args)
    if (name.startsWith('instance')) this.pushStatus()
  }

  /** Sends the newest status once per tick, and only while a parent is attached (it gets one on attach). */
  private pushStatus(): void {
    if (!this.pool || !this.server.up || this.statusQueued) return
    this.statusQueued = true
    setImmediate(() => {
      this.statusQueued = false
      if (!this.pool || !this.server.up) return
      const instances = this.pool.status()
      // Ready now, not ready once: a parent that (re)starts waits until every instance is ready at the same time.
      const ready = this.poolReady && instances.every((i) => i.state === 'ready')
      const status: StatusMessage = { instances, ready, ...(this.poolFailed ? { failed: this.poolFailed } : {}) }
      this.sendQuietly(LinkOps.STATUS, status)
    })
  }

  private async stopPool(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer)
    this.statusTimer = null
    const pool = this.pool
    this.pool = null
    this.poolReady = false
    this.poolFailed = null
    this.assignment = null
    this.owner = null
    if (pool) await pool.stopAll()
  }

  /** Queued for the parent; a message the link cannot take (closed, too large) is reported, never thrown. */
  private sendQuietly(op: string, d: unknown): void {
    try {
      this.server.send(envelope(op, d))
    } catch (err) {
      this.events.emitEvent('debug', `could not send '${op}' to the parent: ${(err as Error).message}`)
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.work.then(fn, fn)
    this.work = next.catch((err) => this.events.emitEvent('error', err))
    return next
  }

  protected requirePool(): InstancePool {
    if (!this.pool) throw new ShardingError('STANDBY', 'this child manager runs no shards yet; it waits for a parent to assign a range')
    return this.pool
  }
}

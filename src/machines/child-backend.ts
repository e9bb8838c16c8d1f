/**
 * A child manager (MACHINES, `me: 'child'`): listens in standby on its port, accepts one parent at
 * a time over mutual TLS, and runs the slice of shards the parent assigns as a local PROCESSES or
 * WORKERS pool. The parent is the control plane only: when the link drops, the shards keep
 * running; a parent that reconnects (or restarts) with the same assignment re-adopts them as they
 * are. Everything the parent sends is checked before it touches a running pool.
 *
 * A child runs shard sets: normally one; during a re-shard the parent adds the next set beside
 * the running one, activates it, then retires the old one. With spares configured, a child whose
 * parent has been away for `fenceAfter` stops its shards (keeping their sessions resumable), so a
 * spare can take the range over without two machines ever running the same shards.
 */
import { isIP } from 'node:net'
import { LinkLostError, ShardingError } from '../errors.js'
import { envelope } from '../ipc/envelope.js'
import { toWireError, type WireError } from '../ipc/values.js'
import type { Backend, ManagerStatus } from '../manager/backend.js'
import { InstancePool } from '../manager/instance-pool.js'
import { driverFor, instanceSettings, type ManagerEvents } from '../manager/local-backend.js'
import type { ResolvedOptions } from '../manager/options.js'
import { PoolBackend } from '../manager/pool-backend.js'
import { planInstances } from '../manager/shard-plan.js'
import { LinkServer, serveUdp, type RefusedEvent, type SessionEvent } from '../net/index.js'
import { UdpEndpoint } from '../net/udp/index.js'
import { RpcEndpoint, type CallContext } from '../rpc/endpoint.js'
import { withDeadline } from '../rpc/scope.js'
import { monotonicNow } from '../util/clock.js'
import { linkTimings, linkTls } from './link-config.js'
import { field, readAction, readAssignment, readEnvelope, readTarget } from './messages.js'
import { checkAssignmentPolicy, checkParent, isTrustedGatewayUrl } from './policy.js'
import { LinkOps, sameSlice, type Assignment, type StatusMessage } from './protocol.js'
import { RemoteHost, type ParentLink } from './remote-host.js'

type ChildConfig = Extract<NonNullable<ResolvedOptions['machines']>, { me: 'child' }>

/** Identify turns older than this cannot constrain a new parent's schedule (one window is 5 s). */
const IDENTIFY_MEMORY_MS = 60_000
/** Shard sets at once: the running one and a re-shard's next one. */
const MAX_SETS = 2

interface ChildSet {
  assignment: Assignment
  host: RemoteHost
  pool: InstancePool
  ready: boolean
  failed: WireError | null
  statusTimer: NodeJS.Timeout
}

export class ChildBackend extends PoolBackend implements Backend {
  private readonly config: ChildConfig
  private readonly server: LinkServer
  private readonly rpc: RpcEndpoint
  private readonly sets = new Map<number, ChildSet>()
  /** Fingerprint of the parent whose assignments the running sets carry. */
  private owner: string | null = null
  private udp: UdpEndpoint | null = null
  /** The port this child listens on (useful with port 0). */
  listeningPort: number | null = null
  private statusQueued = false
  private fenceTimer: NodeJS.Timeout | null = null
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
        withdraw: (seq) => this.server.withdraw(seq as number),
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
      this.clearFence()
      for (const wake of [...this.attachWaiters]) wake()
      this.pushStatus()
    })
    this.server.on('down', (e) => {
      this.events.emitEvent('debug', `parent link down: ${e.error.message}${this.sets.size > 0 ? '; shards keep running' : ''}`)
      this.armFence()
    })
    this.server.on('refused', (e: RefusedEvent) => this.events.emitEvent('machineError', { machine: 'parent', address: e.remoteAddress, code: e.code, reason: e.reason }))
    this.server.on('warning', (w) => this.events.emitEvent('debug', `tls: ${w}`))
    // The link drops messages it cannot read (empty, nil, undecodable) and says why here; socket
    // errors (a listen that failed) reach start() and the debug log instead.
    this.server.on('error', (err: Error) => {
      if (err instanceof ShardingError) this.events.emitEvent('machineError', { machine: 'parent', code: err.code, reason: err.message })
      else this.events.emitEvent('debug', `parent link: ${err.message}`)
    })
  }

  get totalShards(): number | null {
    return this.activeSet()?.assignment.totalShards ?? null
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
    this.clearFence()
    await this.enqueue(() => this.stopSets())
    await this.server.close()
    this.udp?.close()
  }

  status(): ManagerStatus {
    const active = this.activeSet()
    const next = [...this.sets.values()].find((s) => s !== active)
    return {
      mode: this.opts.mode,
      role: 'child',
      totalShards: this.totalShards,
      ready: active?.ready ?? false,
      identify: null,
      machines: [{ id: active?.assignment.machineId ?? 'standby', state: this.server.up ? 'attached' : 'standby', instances: active?.pool.status() ?? [] }],
      ...(next ? { reshard: { totalShards: next.assignment.totalShards, instances: next.pool.status() } } : {}),
    }
  }

  /** Requests in flight to and from the parent, and on every instance channel. */
  inFlight(): number {
    const r = this.rpc.inFlight
    let n = r.calls + r.serving
    for (const s of this.sets.values()) n += s.pool.inFlight()
    return n
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
    try {
      switch (msg.op) {
        case LinkOps.ASSIGN:
          return void this.enqueue(() => this.applyAssignment(msg.d))
        case LinkOps.ACTIVATE:
          return this.activate(field.int((msg.d as { set?: unknown } | undefined)?.set, 'set'))
        case LinkOps.RETIRE: {
          const set = field.int((msg.d as { set?: unknown } | undefined)?.set, 'set')
          return void this.enqueue(() => this.stopSet(set))
        }
        case LinkOps.STANDBY:
          return void this.enqueue(() => this.stopSets())
      }
    } catch (err) {
      return this.refuseMessage(err as Error)
    }
    // A parent on a newer version may send ops we do not know: say so, never crash on it.
    this.refuseMessage(new ShardingError('UNKNOWN_OP', `unknown message ${JSON.stringify(msg.op)} from the parent; ignored`))
  }

  private refuseMessage(err: Error): void {
    this.events.emitEvent('machineError', { machine: 'parent', code: (err as ShardingError).code ?? 'MALFORMED_MESSAGE', reason: err.message })
  }

  private async serve(kind: string, d: Record<string, unknown>, ctx: CallContext): Promise<unknown> {
    // An assignment that arrived before this request is applied first (a restarted child gets its
    // assignment and then, on the same link, the calls for it).
    if (kind !== 'stopShards') await this.work
    switch (kind) {
      case 'fanout': {
        const action = readAction(d.action)
        if (!this.config.policy.eval && (action.type === 'eval' || action.type === 'script')) {
          throw new ShardingError('EVAL_REFUSED', 'this child does not run code sent as text (--no-eval / policy.eval: false); use request, send or fetchClientValues')
        }
        // failFast: the parent's caller rejects at the first failure, so answer with it at once (absent from older parents)
        return this.setOf(d.set).pool.run(action, readTarget(d.target), ctx, d.failFast === true)
      }
      case 'respawn':
        await withDeadline(this.setOf(d.set).pool.get(field.int(d.instance, 'instance')).respawn(), ctx, 'the respawn')
        return null
      case 'rolling':
        await withDeadline(this.setOf(d.set).pool.rollingRestart(), ctx, 'the rolling restart')
        return null
      case 'stopShards':
        await this.enqueue(() => this.stopSets())
        return null
      case 'retire': {
        const set = field.int(d.set, 'set')
        await this.enqueue(() => this.stopSet(set))
        return null
      }
      default:
        throw new ShardingError('UNKNOWN_OP', `unknown parent request ${JSON.stringify(kind)}; are parent and child on the same discordoo-sharding version?`)
    }
  }

  private async applyAssignment(raw: unknown): Promise<void> {
    let a: Assignment
    const set = typeof (raw as { set?: unknown })?.set === 'number' ? (raw as { set: number }).set : -1
    try {
      a = readAssignment(raw, this.config.limits)
      checkAssignmentPolicy(a, this.config.policy)
      if (!this.sets.has(a.set) && this.sets.size >= MAX_SETS) {
        throw new ShardingError('TOO_MANY_SETS', `this child already runs shard sets ${[...this.sets.keys()].join(' and ')}; a parent adds at most one set (a re-shard) at a time`)
      }
    } catch (err) {
      // Refused before anything changed: the running sets keep running.
      this.sendQuietly(LinkOps.ASSIGNED, { set, refused: toWireError(err) })
      this.events.emitEvent('machineError', { machine: 'parent', code: 'ASSIGNMENT_REFUSED', reason: (err as Error).message })
      return
    }
    if (a.gateway && !isTrustedGatewayUrl(a.gateway.data.url)) {
      this.events.emitEvent('debug', `the parent's /gateway/bot names gateway ${a.gateway.data.url}, not Discord's or this machine's; instances ask Discord themselves`)
      a.gateway = undefined
    }
    if (a.gateway) a.gateway.at = Date.now() // its reset_after counts from now, on this machine's clock
    const existing = this.sets.get(a.set)
    if (existing && sameSlice(existing.assignment, a)) {
      // Re-adoption: a (restarted) parent asks for what already runs. Keep every shard as it is.
      existing.assignment.machineId = a.machineId
      existing.assignment.fenceAfter = a.fenceAfter
      existing.assignment.gateway = a.gateway
      if (existing.assignment.active !== a.active) this.activate(a.active ? a.set : -1)
      this.owner = this.server.peerInfo?.fingerprint ?? this.owner
      this.sendQuietly(LinkOps.ASSIGNED, { set: a.set, adopted: true, sessions: existing.host.sessions.all(), instances: existing.pool.status(), recentIdentifies: this.recentIdentifies() })
      this.pushStatus()
      return
    }
    if (existing) await this.stopSet(a.set)
    if (!this.opts.file) {
      this.sendQuietly(LinkOps.ASSIGNED, { set: a.set, refused: toWireError(new ShardingError('NO_FILE', 'this child manager has no client file (file option / --file)')) })
      return
    }
    this.owner = this.server.peerInfo?.fingerprint ?? null
    const childSet = this.createSet(a, this.opts.file)
    this.sendQuietly(LinkOps.ASSIGNED, { set: a.set, adopted: false, sessions: [], instances: childSet.pool.status(), recentIdentifies: this.recentIdentifies() })
    this.events.emitEvent('debug', `assigned shards ${a.shards[0]}-${a.shards[a.shards.length - 1]} of ${a.totalShards} (${a.mode}, set ${a.set}${a.active ? '' : ', not active yet'})`)
    childSet.pool.startAll().then(
      () => {
        if (this.sets.get(a.set) !== childSet) return
        childSet.ready = true
        this.pushStatus()
        if (a.active) this.events.emitEvent('ready')
      },
      (err: Error) => {
        if (this.sets.get(a.set) !== childSet) return
        childSet.failed = toWireError(err)
        this.pushStatus()
        this.events.emitEvent('error', err)
      },
    )
  }

  private createSet(a: Assignment, file: string): ChildSet {
    const assignment = { ...a }
    const host = new RemoteHost(assignment, this.parentLink, this.identifyTimes, (name, ...args) => this.onLocalEvent(name, ...args), (e) => this.events.listenerCount(e))
    host.active = a.active
    // A range moved here from a lost machine: its sessions, so the shards RESUME.
    for (const s of a.sessions) host.sessions.update(s.shardId, s.shardCount, s)
    const driver = driverFor(a.mode)
    const settings = instanceSettings(
      {
        ...this.opts,
        env: { ...this.opts.env, ...a.env },
        execArgv: [...this.opts.execArgv, ...a.execArgv],
        semiSpaceGrowthFactor: a.semiSpaceGrowthFactor === undefined ? this.opts.semiSpaceGrowthFactor : a.semiSpaceGrowthFactor,
        holdOptimizerDuringImports: a.holdOptimizerDuringImports ?? this.opts.holdOptimizerDuringImports,
        deferSmallFunctionOptimization: a.deferSmallFunctionOptimization ?? this.opts.deferSmallFunctionOptimization,
        args: a.args.length ? a.args : this.opts.args,
      },
      driver,
      file,
    )
    settings.respawn = a.respawn
    settings.restarts = a.restarts
    settings.timeouts = a.timeouts
    const pool = new InstancePool(host, settings, planInstances(a.shards, a.shardsPerInstance, a.firstInstanceId))
    host.setPool(pool)
    // Status is state, not a log: a periodic refresh, sent only while a parent is attached.
    const statusTimer = setInterval(() => this.pushStatus(), Math.max(1000, a.timeouts.heartbeatInterval))
    statusTimer.unref()
    const childSet: ChildSet = { assignment, host, pool, ready: false, failed: null, statusTimer }
    this.sets.set(a.set, childSet)
    return childSet
  }

  /** Set `set` serves the bot now; every other set does not (-1: none). */
  private activate(set: number): void {
    for (const [id, s] of this.sets) {
      const active = id === set
      if (s.assignment.active === active) continue
      s.assignment.active = active
      s.host.active = active
      s.pool.setActive(active)
    }
    this.pushStatus()
  }

  private activeSet(): ChildSet | null {
    for (const s of this.sets.values()) if (s.assignment.active) return s
    return this.sets.size === 1 ? [...this.sets.values()][0] : null
  }

  private setOf(raw: unknown): ChildSet {
    if (raw === undefined || raw === null) return this.requireSet()
    const s = this.sets.get(field.int(raw, 'set'))
    if (!s) throw new ShardingError('STANDBY', `this child runs no shard set ${JSON.stringify(raw)}`)
    return s
  }

  private requireSet(): ChildSet {
    const s = this.activeSet()
    if (!s) throw new ShardingError('STANDBY', 'this child manager runs no shards yet; it waits for a parent to assign a range')
    return s
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

  /** Sends the newest status of every set once per tick, and only while a parent is attached (it gets one on attach). */
  private pushStatus(): void {
    if (this.sets.size === 0 || !this.server.up || this.statusQueued) return
    this.statusQueued = true
    setImmediate(() => {
      this.statusQueued = false
      if (!this.server.up) return
      for (const [set, s] of this.sets) {
        const instances = s.pool.status()
        // Ready now, not ready once: a parent that (re)starts waits until every instance is ready at the same time.
        const ready = s.ready && instances.every((i) => i.state === 'ready')
        // An instance that gave up for good makes the set's start fail, also for a parent that re-adopts it later.
        const gone = instances.find((i) => i.state === 'gaveUp' || i.state === 'fatal')
        const failed = s.failed ?? (gone ? { name: 'ShardingError', code: 'GAVE_UP', message: `instance ${gone.id} is ${gone.state === 'fatal' ? 'stopped for good (fatal)' : 'given up (restarts.max)'}; respawn it or fix the bot` } : null)
        const status: StatusMessage = { set, instances, ready, ...(failed ? { failed } : {}) }
        this.sendQuietly(LinkOps.STATUS, status)
      }
    })
  }

  /** With spares configured, a child that lost its parent stops its shards before a spare starts them. */
  private armFence(): void {
    const after = Math.max(0, ...[...this.sets.values()].map((s) => s.assignment.fenceAfter))
    if (after === 0 || this.fenceTimer) return
    this.fenceTimer = setTimeout(() => {
      this.fenceTimer = null
      if (this.server.up || this.sets.size === 0) return
      this.events.emitEvent('error', new ShardingError('FENCED', `the parent has been away for ${after} ms: stopping this machine's shards (their sessions stay resumable) so a spare can take them over`))
      void this.enqueue(() => this.stopSets(true))
    }, after)
    this.fenceTimer.unref()
  }

  private clearFence(): void {
    if (this.fenceTimer) clearTimeout(this.fenceTimer)
    this.fenceTimer = null
  }

  private async stopSet(set: number, resumable = false): Promise<void> {
    const s = this.sets.get(set)
    if (!s) return
    this.sets.delete(set)
    clearInterval(s.statusTimer)
    await s.pool.stopAll(resumable)
  }

  private async stopSets(resumable = false): Promise<void> {
    await Promise.all([...this.sets.keys()].map((id) => this.stopSet(id, resumable)))
    this.owner = null
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
    return this.requireSet().pool
  }
}

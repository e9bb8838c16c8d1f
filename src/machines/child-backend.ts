/**
 * A child manager (MACHINES, `me: 'child'`): listens in standby on its port, accepts one parent at
 * a time over mutual TLS, and runs the slice of shards the parent assigns as a local PROCESSES or
 * WORKERS pool. The parent is the control plane only: when the link drops, the shards keep
 * running; a parent that reconnects (or restarts) with the same assignment re-adopts them as they are.
 */
import { ShardingError } from '../errors.js'
import type { Target } from '../ipc/targets.js'
import type { Backend, ManagerStatus } from '../manager/backend.js'
import type { InstanceAction } from '../manager/instance.js'
import { InstancePool } from '../manager/instance-pool.js'
import { driverFor, instanceSettings, type ManagerEvents } from '../manager/local-backend.js'
import type { ResolvedOptions } from '../manager/options.js'
import { planInstances } from '../manager/shard-plan.js'
import { PoolBackend } from '../manager/pool-backend.js'
import { LinkLostError } from '../errors.js'
import { isIP } from 'node:net'
import { UdpEndpoint } from '../net/udp/index.js'
import { LinkServer, serveUdp, type RefusedEvent, type SessionEvent } from '../net/index.js'
import { linkTimings, linkTls } from './link-config.js'
import { sameSlice, type Assignment, type ChildMessage } from './protocol.js'
import { RemoteHost } from './remote-host.js'
import { LinkRpc } from './rpc.js'

type ChildConfig = Extract<NonNullable<ResolvedOptions['machines']>, { me: 'child' }>

export class ChildBackend extends PoolBackend implements Backend {
  private readonly config: ChildConfig
  private readonly server: LinkServer
  private readonly rpc: LinkRpc
  private assignment: Assignment | null = null
  private host: RemoteHost | null = null
  private pool: InstancePool | null = null
  private poolReady = false
  private udp: UdpEndpoint | null = null
  /** The port this child listens on (useful with port 0). */
  listeningPort: number | null = null
  private statusTimer: NodeJS.Timeout | null = null
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
    })
    this.rpc = new LinkRpc(this.server, 'parent', (kind, d) => this.serve(kind, d))
    this.server.on('message', (msg) => this.onMessage(msg as { t?: string; d?: unknown }))
    this.server.on('session', (e: SessionEvent) => {
      // A new parent session: nothing of the previous one will be answered any more.
      this.rpc.failAll(new LinkLostError('parent', 'the parent started a new session'))
      this.events.emitEvent('debug', `parent ${e.peer.nodeId} (${e.peer.label}) attached from ${e.peer.remoteAddress}`)
    })
    this.server.on('down', (e) => this.events.emitEvent('debug', `parent link down: ${e.error.message}; shards keep running`))
    this.server.on('refused', (e: RefusedEvent) => this.events.emitEvent('machineError', { machine: 'parent', address: e.remoteAddress, code: e.code, reason: e.reason }))
    this.server.on('warning', (w) => this.events.emitEvent('debug', `tls: ${w}`))
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

  private onMessage(msg: { t?: string; d?: unknown }): void {
    if (this.rpc.handle(msg)) return
    if (msg.t === 'assign') return void this.enqueue(() => this.applyAssignment(msg.d as Assignment))
    // A parent on a newer version may send ops we do not know: say so, never crash on it.
    this.events.emitEvent('machineError', { machine: 'parent', code: 'UNKNOWN_OP', reason: `unknown message ${JSON.stringify(msg?.t)} from the parent; ignored` })
  }

  private async serve(kind: string, d: Record<string, unknown>): Promise<unknown> {
    switch (kind) {
      case 'fanout':
        return this.requirePool().run(d.action as InstanceAction, d.target as Target, d.timeout as number)
      case 'respawn':
        await this.requirePool().get(d.instance as number).respawn()
        return null
      case 'rolling':
        await this.requirePool().rollingRestart()
        return null
      case 'stopShards':
        await this.enqueue(() => this.stopPool())
        return null
      default:
        throw new ShardingError('UNKNOWN_OP', `unknown parent request ${JSON.stringify(kind)}; are parent and child on the same discordoo-sharding version?`)
    }
  }

  private async applyAssignment(a: Assignment): Promise<void> {
    if (this.pool && this.assignment && sameSlice(this.assignment, a)) {
      // Re-adoption: a (restarted) parent asks for what already runs. Keep every shard as it is.
      this.assignment.machineId = a.machineId
      this.reply({ t: 'assigned', d: { adopted: true, sessions: this.host!.sessions.all(), instances: this.pool.status() } })
      this.pushStatus()
      return
    }
    await this.stopPool()
    if (!this.opts.file) throw new ShardingError('NO_FILE', 'this child manager has no client file (file option / --file)')
    this.assignment = { ...a }
    this.host = new RemoteHost(this.assignment, this.rpc, (m) => this.reply(m), (name, ...args) => this.onLocalEvent(name, ...args))
    const driver = driverFor(a.mode)
    const settings = instanceSettings({ ...this.opts, env: { ...this.opts.env, ...a.env }, execArgv: [...this.opts.execArgv, ...a.execArgv], args: a.args.length ? a.args : this.opts.args }, driver, this.opts.file)
    settings.respawn = a.respawn
    settings.restarts = a.restarts
    settings.timeouts = a.timeouts
    this.pool = new InstancePool(this.host, settings, planInstances(a.shards, a.shardsPerInstance, a.firstInstanceId))
    this.poolReady = false
    this.reply({ t: 'assigned', d: { adopted: false, sessions: {}, instances: this.pool.status() } })
    this.events.emitEvent('debug', `assigned shards ${a.shards[0]}-${a.shards[a.shards.length - 1]} of ${a.totalShards} (${a.mode})`)
    this.statusTimer = setInterval(() => this.pushStatus(), a.timeouts.heartbeatInterval)
    this.statusTimer.unref()
    const pool = this.pool
    pool.startAll().then(
      () => {
        if (this.pool !== pool) return
        this.poolReady = true
        this.pushStatus()
        this.events.emitEvent('ready')
      },
      (err) => this.events.emitEvent('error', err),
    )
  }

  private onLocalEvent(name: string, ...args: unknown[]): void {
    this.events.emitEvent(name, ...args)
    if (name.startsWith('instance')) this.pushStatus()
  }

  private pushStatus(): void {
    if (!this.pool) return
    this.reply({ t: 'status', d: { instances: this.pool.status(), ready: this.poolReady } })
  }

  private async stopPool(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer)
    this.statusTimer = null
    const pool = this.pool
    this.pool = null
    this.poolReady = false
    this.assignment = null
    if (pool) await pool.stopAll()
  }

  private reply(msg: ChildMessage): void {
    this.rpc.send(msg)
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

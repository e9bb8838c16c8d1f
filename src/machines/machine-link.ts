/**
 * The parent's view of one child machine: its mutual-TLS link (reconnecting with backoff), the
 * requests in flight on it, its assignment, and the instance status it last reported. Every
 * message from the child is checked (messages.ts) before anything acts on it.
 */
import { LinkLostError, ShardingError } from '../errors.js'
import { envelope } from '../ipc/envelope.js'
import type { Endpoint, Target } from '../ipc/targets.js'
import { matches } from '../ipc/targets.js'
import { fromWireError } from '../ipc/wire-errors.js'
import type { MachineStatus } from '../manager/backend.js'
import type { InstanceInfo } from '../manager/instance.js'
import type { ResolvedOptions } from '../manager/options.js'
import { planInstances, type InstancePlan } from '../manager/shard-plan.js'
import type { StartGate } from '../manager/start-gate.js'
import { UdpEndpoint } from '../net/udp/index.js'
import { autoUdp, LinkClient, type DownEvent, type RefusedEvent, type UpEvent } from '../net/index.js'
import { deadlineIn } from '../rpc/deadline.js'
import { RpcEndpoint, type RpcHandler } from '../rpc/endpoint.js'
import { linkTimings, linkTls } from './link-config.js'
import { readChildMessage, readEnvelope } from './messages.js'
import type { LinkTuning, ResolvedPoint } from './options.js'
import { LinkOps, type Assignment, type ChildMessage } from './protocol.js'

export interface MachineCallbacks {
  emit(name: string, ...args: unknown[]): void
  handleRequest: RpcHandler
  handleMessage(msg: ChildMessage): void
  onNewSession(): void
  /** The machine has been unreachable for `lostAfter` ms (or started a new session): its exclusive start slots are void. */
  releaseSlots(): void
}

/** How long a machine may stay unreachable before calls waiting on it fail and its start slot is freed. */
const DEFAULT_HEARTBEAT_TIMEOUT = 15_000

export class MachineLink {
  readonly id: string
  readonly client: LinkClient
  readonly rpc: RpcEndpoint
  /** Exclusive start slots an instance on this machine holds (released if the child goes away). */
  readonly heldSlots = new Set<string>()
  private readonly plans: InstancePlan[]
  private state: 'connecting' | 'up' | 'down' | 'stopped' = 'connecting'
  private instances: InstanceInfo[] = []
  private ready = false
  private waiters: { resolve(): void; reject(e: Error): void }[] = []
  private lostTimer: NodeJS.Timeout | null = null
  private readonly lostAfter: number
  /** With `udp` set on the point: the local UDP socket that carries messages beside the TLS link. */
  private readonly udp: UdpEndpoint | null

  constructor(
    private readonly point: ResolvedPoint,
    private readonly opts: ResolvedOptions,
    private readonly totalShards: number,
    tuning: LinkTuning,
    private readonly cb: MachineCallbacks,
  ) {
    this.id = point.id
    this.plans = planInstances(point.shards, point.shardsPerInstance, point.firstInstanceId)
    this.lostAfter = tuning.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT
    const field = `machines.points[${opts.machines!.me === 'parent' ? (opts.machines as { points: ResolvedPoint[] }).points.indexOf(point) : 0}]`
    this.client = new LinkClient({
      host: point.host,
      port: point.port,
      nodeId: `parent:${process.pid}`,
      tls: linkTls(point.tls, `${field}.tls`),
      fieldPrefix: `${field}.`,
      reconnect: { ...(tuning.reconnectDelay ? { initialDelayMs: tuning.reconnectDelay } : {}), ...(tuning.maxReconnectDelay ? { maxDelayMs: tuning.maxReconnectDelay } : {}) },
      ...(point.udp ? { caps: ['udp'] } : {}),
      ...linkTimings(tuning),
    })
    this.udp = point.udp ? new UdpEndpoint({ type: point.udp }) : null
    this.rpc = new RpcEndpoint(
      {
        name: `machine ${this.id}`,
        post: (msg) => this.client.send(msg),
        reachable: () => this.client.up,
        unreachableError: (what) => new LinkLostError(this.id, `${what}: the link to machine ${this.id} is down`),
        errorWhere: { machine: this.id },
        onProtocolError: (err) => cb.emit('machineError', { machine: this.id, code: err.code, reason: err.message }),
      },
      cb.handleRequest,
    )
    this.client.on('up', (e: UpEvent) => this.onUp(e))
    this.client.on('session', () => {
      cb.onNewSession()
      this.rpc.failAll(new LinkLostError(this.id, `machine ${this.id} started a new session; requests of the previous one are lost`))
    })
    this.client.on('down', (e: DownEvent) => {
      if (this.state === 'stopped') return
      this.state = 'down'
      cb.emit('machineDisconnect', { machine: this.id, reason: e.error.message })
      this.lostTimer ??= setTimeout(() => this.onLost(), this.lostAfter)
      this.lostTimer.unref()
    })
    this.client.on('refused', (e: RefusedEvent) => cb.emit('machineError', { machine: this.id, code: e.code, reason: e.reason }))
    this.client.on('message', (msg) => this.onMessage(msg))
    this.client.on('error', (err: Error) => cb.emit('machineError', { machine: this.id, code: (err as ShardingError).code ?? 'LINK', reason: err.message }))
    this.client.on('datagramUp', () => cb.emit('debug', `machine ${this.id}: messages now travel over encrypted UDP (${point.udp})`))
    this.client.on('datagramDown', (e: { reason?: unknown }) => cb.emit('debug', `machine ${this.id}: UDP down (${String(e?.reason)}); messages use TLS`))
  }

  async connect(): Promise<void> {
    if (this.udp) {
      await this.udp.listen()
      // UDP is set up again after every reconnect; if the child refuses it, the link stays on TLS.
      autoUdp(this.client, this.udp, { onError: (err) => this.cb.emit('machineError', { machine: this.id, code: 'UDP', reason: `UDP not available, using TLS: ${err.message}` }) })
    }
    this.client.connect()
  }

  /** Resolves when the machine's shards are all ready; rejects when its start failed for good. */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve()
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  endpoint(): Endpoint {
    return { machine: this.id, instances: this.plans.map((p) => p.id), shards: this.point.shards }
  }

  owns(shardId: number): boolean {
    return this.point.shards.includes(shardId)
  }

  get shards(): readonly number[] {
    return this.point.shards
  }

  plannedInstances(target: Target): InstancePlan[] {
    return this.plans.filter((p) => matches({ machine: this.id, instances: [p.id], shards: p.shards }, target))
  }

  assignment(): Assignment {
    const cmo = this.point.childOptions
    const o = this.opts
    return {
      machineId: this.id,
      mode: this.point.mode,
      shards: this.point.shards,
      totalShards: this.totalShards,
      shardsPerInstance: this.point.shardsPerInstance,
      firstInstanceId: this.point.firstInstanceId,
      env: { ...o.env, ...(cmo.env ?? {}) },
      execArgv: cmo.execArgv ?? o.execArgv,
      args: cmo.args ?? o.args,
      respawn: cmo.respawn ?? o.respawn,
      restarts: { ...o.restarts, ...(cmo.restarts ?? {}) },
      timeouts: { ...o.timeouts, ...(cmo.timeouts ?? {}) },
    }
  }

  /** Stops this machine's shards (the child stays in standby), then closes the link with GOAWAY. */
  async stopShards(): Promise<void> {
    this.fail(new ShardingError('STOPPED', `the parent stopped before machine ${this.id} was ready`))
    if (this.client.up) {
      // A link that drops meanwhile ends the wait: the child keeps its shards until a parent returns.
      const abort = new AbortController()
      const onDown = () => abort.abort()
      this.client.once('down', onDown)
      await this.rpc
        .call('stopShards', {}, { deadline: deadlineIn(this.opts.timeouts.kill + 15_000), signal: abort.signal })
        .catch((err) => this.cb.emit('machineError', { machine: this.id, code: err.code, reason: `could not stop its shards: ${err.message}` }))
        .finally(() => this.client.off('down', onDown))
    }
    this.state = 'stopped'
    this.clearLost()
    await this.client.close('the parent stopped')
    this.udp?.close()
  }

  status(): MachineStatus {
    const link = this.client.stats()
    return {
      id: this.id,
      host: this.point.host,
      state: this.ready && this.state === 'up' ? 'ready' : this.state,
      link: { up: link.up, rttMs: link.rttMs, udp: link.datagram, resumes: link.resumes, queued: link.queuedMessages },
      instances: this.instances,
    }
  }

  private onUp(e: UpEvent): void {
    this.state = 'up'
    this.clearLost()
    this.cb.emit('machineConnect', { machine: this.id, host: this.point.host, port: this.point.port, resumed: e.resumed, peer: e.peer.label })
    // A new session (first connect, child restarted, or we restarted): (re)assign. The child keeps
    // running shards when the slice is unchanged, so re-adoption restarts nothing.
    if (!e.resumed) this.send(LinkOps.ASSIGN, this.assignment())
    if (this.udp && !e.caps.includes('udp')) {
      this.cb.emit('machineError', { machine: this.id, code: 'UDP', reason: 'the child does not accept UDP (start it with --udp / ipc.udp); messages use TLS' })
    }
  }

  private onMessage(raw: unknown): void {
    let msg: ChildMessage
    try {
      const env = readEnvelope(raw)
      if (this.rpc.handle(env)) return
      msg = readChildMessage(env)
    } catch (err) {
      this.cb.emit('machineError', { machine: this.id, code: (err as ShardingError).code ?? 'MALFORMED_MESSAGE', reason: (err as Error).message })
      return
    }
    if (msg.op === 'status') {
      this.instances = msg.d.instances
      if (msg.d.failed) this.fail(fromWireError(msg.d.failed, { machine: this.id, prefix: `machine ${this.id}` }))
      this.setReady(msg.d.ready)
    } else if (msg.op === 'assigned') {
      if ('refused' in msg.d) {
        this.fail(new ShardingError('ASSIGNMENT_REFUSED', `machine ${this.id} refused its assignment: ${msg.d.refused.message}`))
      } else {
        this.instances = msg.d.instances
        if (msg.d.adopted) this.setReady(msg.d.instances.length > 0 && msg.d.instances.every((i) => i.state === 'ready'))
      }
    }
    this.cb.handleMessage(msg)
  }

  private send(op: string, d: unknown): void {
    try {
      this.client.send(envelope(op, d))
    } catch (err) {
      this.cb.emit('machineError', { machine: this.id, code: (err as ShardingError).code ?? 'SEND', reason: `could not send '${op}': ${(err as Error).message}` })
    }
  }

  private setReady(ready: boolean): void {
    if (ready === this.ready) return
    this.ready = ready
    if (!ready) return
    this.cb.emit('machineReady', { machine: this.id, instances: this.instances.length })
    for (const w of this.waiters.splice(0)) w.resolve()
  }

  private fail(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err)
  }

  /**
   * Unreachable for lostAfter: calls without a deadline (respawn, rolling restart) fail instead of
   * waiting forever, and the machine's exclusive start slot is freed so other machines can start.
   */
  private onLost(): void {
    this.lostTimer = null
    if (this.client.up || this.state === 'stopped') return
    this.rpc.failCalls(new LinkLostError(this.id, `machine ${this.id} has been unreachable for ${this.lostAfter} ms`), true)
    this.cb.releaseSlots()
  }

  private clearLost(): void {
    if (this.lostTimer) clearTimeout(this.lostTimer)
    this.lostTimer = null
  }

  releaseHeldSlots(gate: StartGate): void {
    for (const holder of this.heldSlots) gate.release({ holder, exclusive: true }, 'failed')
    this.heldSlots.clear()
  }
}

/**
 * The parent's view of one child machine: its mutual-TLS link (reconnecting with backoff), the
 * requests in flight on it, the slice of the bot it runs (as a shard set; a re-shard adds the next
 * set for a while), and the instance status it last reported. A spare runs no slice until the
 * parent moves a lost machine's slice to it. Every message from the child is checked
 * (messages.ts) before anything acts on it.
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
import type { GatewayHandOver, SessionInfo } from '../runtime/context.js'
import { deadlineIn } from '../rpc/deadline.js'
import { RpcEndpoint, type RpcHandler } from '../rpc/endpoint.js'
import { monotonicNow } from '../util/clock.js'
import { linkTimings, linkTls } from './link-config.js'
import { readChildMessage, readEnvelope } from './messages.js'
import type { ChildManagerOptions, LinkTuning, ResolvedPoint } from './options.js'
import { LinkOps, type Assignment, type ChildMessage } from './protocol.js'

export interface MachineCallbacks {
  emit(name: string, ...args: unknown[]): void
  handleRequest: RpcHandler
  handleMessage(msg: ChildMessage): void
  onNewSession(): void
  /** The machine has been unreachable for `lostAfter` ms: its exclusive start slots are void. */
  releaseSlots(): void
  /** The parent's sessions for these shards at this total (sent with an assignment, so shards RESUME). */
  sessionsFor(shards: number[], totalShards: number): SessionInfo[]
  /** /gateway/bot for the child's instances (sent with an assignment); null when the parent never asked. */
  gatewayHandOver(): GatewayHandOver | null
  /** Link state changed (up, down, lost): the parent reconsiders failovers. */
  linkChanged(machine: MachineLink): void
}

/** What a machine runs: a range of the bot at one shard count, as one shard set. */
export interface Slice {
  set: number
  totalShards: number
  shards: number[]
  shardsPerInstance: number
  firstInstanceId: number
  mode: 'processes' | 'workers'
  childOptions: ChildManagerOptions
}

/** How long a machine may stay unreachable before calls waiting on it fail and its start slot is freed. */
const DEFAULT_HEARTBEAT_TIMEOUT = 15_000

interface SetState {
  instances: InstanceInfo[]
  ready: boolean
  waiters: { resolve(): void; reject(e: Error): void }[]
}

export class MachineLink {
  readonly id: string
  readonly client: LinkClient
  readonly rpc: RpcEndpoint
  /** Exclusive start slots an instance on this machine holds (released if the child goes away). */
  readonly heldSlots = new Set<string>()
  /** The slice that serves the bot on this machine (null: a spare, or its range moved away). */
  slice: Slice | null
  /** A re-shard's next slice, until the switch. */
  next: Slice | null = null
  /** Where this machine's slice went when it was lost (status shows it). */
  movedTo: string | null = null
  /** Fence timeout sent with assignments (set when spares exist). */
  fenceAfter = 0
  private plans: InstancePlan[]
  private state: 'connecting' | 'up' | 'down' | 'stopped' = 'connecting'
  /** The link was up at least once: the machine may run shards this parent assigned. */
  private everUp = false
  private downSince: number | null = null
  private readonly sets = new Map<number, SetState>()
  private lostTimer: NodeJS.Timeout | null = null
  readonly lostAfter: number
  /** With `udp` set on the point: the local UDP socket that carries messages beside the TLS link. */
  private readonly udp: UdpEndpoint | null

  constructor(
    readonly point: ResolvedPoint,
    private readonly opts: ResolvedOptions,
    totalShards: number,
    tuning: LinkTuning,
    private readonly cb: MachineCallbacks,
  ) {
    this.id = point.id
    this.slice = point.spare
      ? null
      : { set: 0, totalShards, shards: point.shards, shardsPerInstance: point.shardsPerInstance, firstInstanceId: point.firstInstanceId, mode: point.mode, childOptions: point.childOptions }
    this.plans = this.planOf(this.slice)
    this.lostAfter = tuning.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT
    const field = `machines.points[${(opts.machines as { points: ResolvedPoint[] }).points.indexOf(point)}]`
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
        withdraw: (seq) => this.client.withdraw(seq as number),
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
      this.downSince ??= monotonicNow()
      cb.emit('machineDisconnect', { machine: this.id, reason: e.error.message })
      this.lostTimer ??= setTimeout(() => this.onLost(), this.lostAfter)
      this.lostTimer.unref()
      cb.linkChanged(this)
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

  get up(): boolean {
    return this.client.up
  }

  /** Since when the link has been down (monotonic ms: a wall-clock jump must not move a failover), or null while up. */
  get downAt(): number | null {
    return this.state === 'up' ? null : this.downSince
  }

  /** Resolves when shard set `set` (default: the running one) is ready on this machine; rejects when its start failed. A spare is ready at once. */
  whenReady(set = this.slice?.set): Promise<void> {
    if (set === undefined) return Promise.resolve()
    const s = this.setState(set)
    if (s.ready) return Promise.resolve()
    return new Promise((resolve, reject) => s.waiters.push({ resolve, reject }))
  }

  /** Instances of set `set` as the child last reported them. */
  instancesOf(set: number): InstanceInfo[] {
    return this.sets.get(set)?.instances ?? []
  }

  endpoint(): Endpoint {
    return { machine: this.id, instances: this.plans.map((p) => p.id), shards: this.slice?.shards ?? [] }
  }

  /** Whether this machine runs the shard now, or will after a re-shard. */
  owns(shardId: number): boolean {
    return Boolean(this.slice?.shards.includes(shardId) || this.next?.shards.includes(shardId))
  }

  plannedInstances(target: Target): InstancePlan[] {
    return this.plans.filter((p) => matches({ machine: this.id, instances: [p.id], shards: p.shards }, target))
  }

  /** Sends a slice to run: the running one, a re-shard's next one, or one taken over from a lost machine. */
  assign(slice: Slice, active: boolean): void {
    this.send(LinkOps.ASSIGN, this.assignment(slice, active))
  }

  /** A lost machine's slice moves here (this machine was a spare). */
  takeOver(slice: Slice): void {
    this.slice = slice
    this.plans = this.planOf(slice)
    this.sets.delete(slice.set)
    if (this.up) this.assign(slice, true)
  }

  /** This machine's slice moved to a spare: it runs nothing from now on, even when it returns. */
  release(movedTo: string): void {
    this.slice = null
    this.next = null
    this.movedTo = movedTo
    this.plans = []
    this.sets.clear()
  }

  /** The re-shard switched: the next slice serves the bot; resolves once the child stopped the old set. */
  async switchToNext(): Promise<void> {
    const old = this.slice
    if (!this.next) return
    this.slice = this.next
    this.next = null
    this.plans = this.planOf(this.slice)
    this.send(LinkOps.ACTIVATE, { set: this.slice.set })
    if (!old) return
    this.sets.delete(old.set)
    await this.rpc
      .call('retire', { set: old.set }, { deadline: deadlineIn(this.opts.timeouts.kill + 15_000) })
      .catch((err) => this.cb.emit('machineError', { machine: this.id, code: err.code, reason: `could not stop the old shard set: ${err.message}` }))
  }

  /** A failed re-shard: the next set stops, the running one goes on. */
  dropNext(): void {
    if (!this.next) return
    this.send(LinkOps.RETIRE, { set: this.next.set })
    this.failSet(this.next.set, new ShardingError('RESHARD_FAILED', 're-shard abandoned'))
    this.sets.delete(this.next.set)
    this.next = null
  }

  /**
   * Stops this machine's shards (the child stays in standby), then closes the link with GOAWAY.
   * Resolves false when the machine could not be reached: its shards keep running.
   */
  async stopShards(): Promise<boolean> {
    for (const set of this.sets.keys()) this.failSet(set, new ShardingError('STOPPED', `the parent stopped before machine ${this.id} was ready`))
    // A link that is down may be back in a moment: wait for it (bounded) rather than leave shards running.
    if (!this.client.up && this.slice && this.everUp) await this.linkBack(this.lostAfter)
    // A machine never reached runs nothing of ours; one reached before and unreachable now may.
    const unreachable = !this.client.up && this.slice !== null && this.everUp
    if (unreachable) {
      this.cb.emit('machineError', {
        machine: this.id,
        code: 'UNREACHABLE',
        reason: `machine ${this.id} is unreachable: its shards keep running until a parent stops them or its child manager stops${this.fenceAfter ? ` (it stops them itself after ${this.fenceAfter} ms without a parent)` : ''}`,
      })
    }
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
    return !unreachable
  }

  /** Resolves when the link is up again, or after `ms`. */
  private linkBack(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.client.off('up', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.client.on('up', done)
    })
  }

  status(): MachineStatus {
    const link = this.client.stats()
    const running = this.slice ? this.sets.get(this.slice.set) : undefined
    const state = this.state !== 'up' ? this.state : !this.slice ? (this.movedTo ? 'released' : 'spare') : running?.ready ? 'ready' : 'up'
    return {
      id: this.id,
      host: this.point.host,
      state,
      link: { up: link.up, rttMs: link.rttMs, udp: link.datagram, resumes: link.resumes, queued: link.queuedMessages },
      instances: running?.instances ?? [],
      ...(this.point.spare ? { spare: true } : {}),
      ...(this.movedTo ? { movedTo: this.movedTo } : {}),
    }
  }

  private assignment(slice: Slice, active: boolean): Assignment {
    const cmo = slice.childOptions
    const o = this.opts
    return {
      machineId: this.id,
      mode: slice.mode,
      shards: slice.shards,
      totalShards: slice.totalShards,
      shardsPerInstance: slice.shardsPerInstance,
      firstInstanceId: slice.firstInstanceId,
      env: { ...o.env, ...(cmo.env ?? {}) },
      execArgv: cmo.execArgv ?? o.execArgv,
      semiSpaceGrowthFactor: cmo.semiSpaceGrowthFactor === undefined ? o.semiSpaceGrowthFactor : cmo.semiSpaceGrowthFactor,
      holdOptimizerDuringImports: cmo.holdOptimizerDuringImports ?? o.holdOptimizerDuringImports,
      deferSmallFunctionOptimization: cmo.deferSmallFunctionOptimization ?? o.deferSmallFunctionOptimization,
      args: cmo.args ?? o.args,
      respawn: cmo.respawn ?? o.respawn,
      restarts: { ...o.restarts, ...(cmo.restarts ?? {}) },
      timeouts: { ...o.timeouts, ...(cmo.timeouts ?? {}) },
      set: slice.set,
      active,
      sessions: this.cb.sessionsFor(slice.shards, slice.totalShards),
      fenceAfter: this.fenceAfter,
      ...gatewayOf(this.cb.gatewayHandOver()),
    }
  }

  private planOf(slice: Slice | null): InstancePlan[] {
    return slice ? planInstances(slice.shards, slice.shardsPerInstance, slice.firstInstanceId) : []
  }

  private setState(set: number): SetState {
    let s = this.sets.get(set)
    if (!s) {
      s = { instances: [], ready: false, waiters: [] }
      this.sets.set(set, s)
    }
    return s
  }

  private onUp(e: UpEvent): void {
    this.state = 'up'
    this.everUp = true
    this.downSince = null
    this.clearLost()
    this.cb.emit('machineConnect', { machine: this.id, host: this.point.host, port: this.point.port, resumed: e.resumed, peer: e.peer.label })
    // A new session (first connect, child restarted, or we restarted): (re)assign. The child keeps
    // running shards when the slice is unchanged, so re-adoption restarts nothing. A machine with no
    // slice (a spare, or one whose range moved away while it was lost) runs nothing.
    if (!e.resumed) {
      if (this.slice) this.assign(this.slice, true)
      if (this.next) this.assign(this.next, false)
      if (!this.slice && !this.next) this.send(LinkOps.STANDBY, {})
    }
    if (this.udp && !e.caps.includes('udp')) {
      this.cb.emit('machineError', { machine: this.id, code: 'UDP', reason: 'the child does not accept UDP (start it with --udp / ipc.udp); messages use TLS' })
    }
    this.cb.linkChanged(this)
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
    if (msg.op === 'status' && this.knows(msg.d.set)) {
      const s = this.setState(msg.d.set)
      s.instances = msg.d.instances
      if (msg.d.failed) this.failSet(msg.d.set, fromWireError(msg.d.failed, { machine: this.id, prefix: `machine ${this.id}` }))
      this.setReady(msg.d.set, msg.d.ready)
    } else if (msg.op === 'assigned' && this.knows(msg.d.set)) {
      if ('refused' in msg.d) {
        this.failSet(msg.d.set, new ShardingError('ASSIGNMENT_REFUSED', `machine ${this.id} refused its assignment: ${msg.d.refused.message}`))
      } else {
        const s = this.setState(msg.d.set)
        s.instances = msg.d.instances
        if (msg.d.adopted) this.setReady(msg.d.set, msg.d.instances.length > 0 && msg.d.instances.every((i) => i.state === 'ready'))
      }
    }
    this.cb.handleMessage(msg)
  }

  /** A set this parent assigned (reports of other sets are stale: ignored). */
  private knows(set: number): boolean {
    return this.slice?.set === set || this.next?.set === set
  }

  private send(op: string, d: unknown): void {
    try {
      this.client.send(envelope(op, d))
    } catch (err) {
      this.cb.emit('machineError', { machine: this.id, code: (err as ShardingError).code ?? 'SEND', reason: `could not send '${op}': ${(err as Error).message}` })
    }
  }

  private setReady(set: number, ready: boolean): void {
    const s = this.setState(set)
    if (ready === s.ready) return
    s.ready = ready
    if (!ready) return
    if (set === this.slice?.set) this.cb.emit('machineReady', { machine: this.id, instances: s.instances.length })
    for (const w of s.waiters.splice(0)) w.resolve()
  }

  private failSet(set: number, err: Error): void {
    for (const w of this.sets.get(set)?.waiters.splice(0) ?? []) w.reject(err)
  }

  /**
   * Unreachable for lostAfter: calls without a deadline (respawn, rolling restart) fail instead of
   * waiting forever, and the machine's exclusive start slot is freed so other machines can start.
   */
  private onLost(): void {
    this.lostTimer = null
    if (this.client.up || this.state === 'stopped') return
    const lost = new LinkLostError(this.id, `machine ${this.id} has been unreachable for ${this.lostAfter} ms`)
    this.rpc.failCalls(lost, true)
    // A re-shard waiting for this machine's new set fails instead of waiting for it forever.
    if (this.next) this.failSet(this.next.set, lost)
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

/** The assignment's `gateway` field: the hand-over without its timestamp (the child sets its own). */
function gatewayOf(handOver: GatewayHandOver | null): Pick<Assignment, 'gateway'> {
  return handOver ? { gateway: { api: handOver.api, data: handOver.data } } : {}
}

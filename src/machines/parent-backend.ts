/**
 * The MACHINES parent (`me: 'parent'`): the root of the bot. It holds the identify authority, the
 * start gate and the session store for every machine, connects to each contact point over mutual
 * TLS, assigns each child its slice, and answers what their instances ask of the manager tier.
 */
import { setMaxListeners } from 'node:events'
import { LinkLostError, NoTargetError, ProtocolError, ShardingError } from '../errors.js'
import { allUnlessOneFails, matches, noTarget, type FanoutEntry, type Target } from '../ipc/targets.js'
import { deserializeValue, toWireError } from '../ipc/values.js'
import { Authority, resolveLayout } from '../manager/authority.js'
import type { Backend, MachineStatus, ManagerStatus } from '../manager/backend.js'
import { answerBotRequest, type Origin } from '../manager/bot-requests.js'
import type { InstanceAction } from '../manager/instance-channel.js'
import type { ManagerEvents } from '../manager/local-backend.js'
import type { ResolvedOptions } from '../manager/options.js'
import { deadlineIn, NO_DEADLINE, partsDeadline } from '../rpc/deadline.js'
import { withDeadline } from '../rpc/scope.js'
import { fetchGatewayBot } from '../manager/gateway-info.js'
import { checkBudget, pointRanges, reshardSchema, type ReshardOptions } from '../manager/reshard.js'
import type { CallContext, CallScope } from '../rpc/endpoint.js'
import { monotonicNow } from '../util/clock.js'
import { MachineLink } from './machine-link.js'
import { failoverDue } from './failover-due.js'
import { field } from './messages.js'
import type { ChildMessage } from './protocol.js'

type ParentConfig = Extract<NonNullable<ResolvedOptions['machines']>, { me: 'parent' }>

export class ParentBackend implements Backend {
  private readonly config: ParentConfig
  private readonly machines = new Map<string, MachineLink>()
  private authority: Authority | null = null
  totalShards: number | null = null
  private isReady = false
  private resharding = false
  /** The next look at lost machines whose failover delay is not over yet. */
  private failoverTimer: NodeJS.Timeout | null = null
  private stopping = false

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly events: ManagerEvents,
  ) {
    this.config = opts.machines as ParentConfig
    const total = typeof opts.totalShards === 'number' ? opts.totalShards : this.config.totalFromPoints
    if (total < this.config.totalFromPoints) {
      throw new ShardingError('INVALID_OPTION', `totalShards: is ${total} but the points assign shards up to ${this.config.totalFromPoints - 1}`)
    }
  }

  /** Whether spare points exist: then machines fence themselves and lost ranges move. */
  private get hasSpares(): boolean {
    return this.config.points.some((p) => p.spare)
  }

  async start(): Promise<void> {
    const owned = this.config.points.flatMap((p) => p.shards)
    const layout = await resolveLayout({ ...this.opts, totalShards: this.opts.totalShards ?? this.config.totalFromPoints }, owned, this.emit)
    this.totalShards = layout.totalShards
    const authority = new Authority(this.opts, layout, this.emit)
    this.authority = authority
    for (const point of this.config.points) {
      const machine: MachineLink = new MachineLink(point, this.opts, layout.totalShards, this.config.link, {
        emit: this.emit,
        handleRequest: (kind, d, ctx) => this.serveChild(machine, kind, d, ctx),
        handleMessage: (msg) => this.onChildMessage(machine, msg),
        onNewSession: () => {
          machine.releaseHeldSlots(authority.gate)
          // the previous session's answers (identify turns among them) will never arrive
          authority.releaseHeldIdentifies((s) => machine.owns(s))
        },
        releaseSlots: () => machine.releaseHeldSlots(authority.gate),
        sessionsFor: (shards, total) => Object.values(authority.sessionsFor(shards, total)),
        gatewayHandOver: () => authority.gatewayHandOver(),
        linkChanged: () => this.linkChanged(),
      })
      if (this.hasSpares) machine.fenceAfter = this.config.failover.after
      this.machines.set(point.id, machine)
    }
    const allReady = Promise.all([...this.machines.values()].map((m) => m.whenReady()))
    allReady.catch(() => {}) // awaited below; a failure before that must not count as unhandled
    await Promise.all([...this.machines.values()].map((m) => m.connect()))
    await allReady
    this.isReady = true
    this.emit('ready')
  }

  /** Stops the shards on every child and leaves each child in standby for the next parent. */
  async stop(): Promise<void> {
    this.stopping = true
    if (this.failoverTimer) clearTimeout(this.failoverTimer)
    this.authority?.close()
    const machines = [...this.machines.values()]
    const stopped = await Promise.all(machines.map((m) => m.stopShards()))
    const unreachable = machines.filter((_, i) => !stopped[i]).map((m) => m.id)
    if (unreachable.length > 0) {
      throw new LinkLostError(unreachable.join(', '), `stopped every shard the parent could reach, but ${unreachable.join(', ')} ${unreachable.length === 1 ? 'is' : 'are'} unreachable: those shards keep running until a parent stops them or their child manager stops`)
    }
  }

  /** The machines that run a slice now (spares and released machines run nothing). */
  private runners(): MachineLink[] {
    return [...this.machines.values()].filter((m) => m.slice !== null)
  }

  /** One call per machine; each answers for its instances a little before our own deadline. */
  async fanout(action: InstanceAction, target: Target, scope: CallScope, failFast = false): Promise<FanoutEntry[]> {
    const selected = this.runners().filter((m) => matches(m.endpoint(), target))
    if (selected.length === 0) throw noTarget(target)
    const parts: CallScope = { deadline: partsDeadline(scope.deadline), signal: scope.signal }
    if (scope.signal) setMaxListeners(0, scope.signal)
    // failFast: each child answers at its first failed instance, and the call settles at the first machine that does.
    const calls = selected.map(async (m): Promise<FanoutEntry[]> => {
      try {
        return (await m.rpc.call('fanout', { action, target, set: m.slice!.set, failFast }, { ...parts, describe: `${action.type} on machine ${m.id}` })) as FanoutEntry[]
      } catch (err) {
        if (err instanceof NoTargetError) return []
        // The machine could not answer: one failed entry per instance it should have answered for.
        return m.plannedInstances(target).map((p) => ({ instance: p.id, machine: m.id, shards: p.shards, ok: false, error: toWireError(err) }))
      }
    })
    const perMachine = failFast ? await allUnlessOneFails(calls, (es) => es.some((e) => !e.ok)) : await Promise.all(calls)
    const entries = perMachine.flat()
    if (entries.length === 0) throw noTarget(target)
    return entries.sort((a, b) => a.instance - b.instance)
  }

  async respawn(instanceId: number, scope: CallScope): Promise<void> {
    const machine = this.runners().find((m) => m.plannedInstances({ instances: [instanceId] }).length > 0)
    if (!machine) throw new ShardingError('NO_SUCH_INSTANCE', `no instance ${instanceId} on any machine`)
    await machine.rpc.call('respawn', { instance: instanceId, set: machine.slice!.set }, { ...scope, describe: `respawn of instance ${instanceId} on machine ${machine.id}` })
  }

  async rollingRestart(scope: CallScope): Promise<void> {
    for (const m of this.runners()) await m.rpc.call('rolling', { set: m.slice!.set }, { ...scope, describe: `rolling restart on machine ${m.id}` })
  }

  /**
   * Re-shards every machine: each runs the new set (its new range, at the new total) beside the
   * old one; once every new shard on every machine is ready, each machine switches, then retires
   * the old set. On failure the new sets are retired and the old ones keep running.
   */
  async reshard(raw: ReshardOptions = {}): Promise<void> {
    const o = reshardSchema.parse(raw ?? {}, 'reshard')
    const authority = this.authority
    if (!authority || this.totalShards === null) throw new ShardingError('NOT_STARTED', 'the manager is not started; call manager.start() first')
    if (this.resharding) throw new ShardingError('RESHARD_RUNNING', 'a re-shard is already running; wait for reshardDone or reshardFailed')
    const runners = this.runners()
    const oldTotal = this.totalShards
    const total = o.totalShards === 'auto' ? await this.recommended() : (o.totalShards ?? oldTotal)
    const ranges = pointRanges(total, o.points as ReshardOptions['points'], runners.length)
    await authority.refreshBudget().catch((err) => this.emit('debug', `budget refresh failed: ${(err as Error).message}`))
    checkBudget(authority.budget(), total)
    this.resharding = true
    const set = Math.max(...runners.map((m) => m.slice!.set)) + 1
    let firstInstanceId = 0
    runners.forEach((m, i) => {
      const perInstance = o.points?.[i]?.shardsPerInstance ?? o.shardsPerInstance ?? m.slice!.shardsPerInstance
      m.next = { ...m.slice!, set, totalShards: total, shards: ranges[i], shardsPerInstance: perInstance, firstInstanceId }
      firstInstanceId += Math.ceil(ranges[i].length / perInstance)
    })
    this.emit('reshardStart', { from: { totalShards: oldTotal, machines: runners.length }, to: { totalShards: total, instances: firstInstanceId } })
    this.lastProgress = -1
    this.progressOf = () => {
      const ready = runners.reduce((n, m) => n + m.instancesOf(set).reduce((k, i) => k + (i.state === 'ready' ? i.shards.length : 0), 0), 0)
      return { ready, total }
    }
    try {
      for (const m of runners) if (m.up) m.assign(m.next!, false)
      const allReady = Promise.all(runners.map((m) => m.whenReady(set)))
      await withDeadline(allReady, { deadline: o.timeout ? deadlineIn(o.timeout) : NO_DEADLINE }, 'the re-shard')
    } catch (err) {
      for (const m of runners) m.dropNext()
      if (total !== oldTotal) authority.sessions.dropCount(total)
      this.resharding = false
      this.progressOf = null
      this.emit('reshardFailed', { error: err, totalShards: oldTotal })
      throw err
    }
    await Promise.all(runners.map((m) => m.switchToNext()))
    this.totalShards = total
    if (total !== oldTotal) authority.sessions.dropCount(oldTotal)
    this.resharding = false
    this.progressOf = null
    this.emit('reshardDone', { totalShards: total, instances: firstInstanceId })
  }

  /** While a re-shard runs: how many of the new shards are ready. */
  private progressOf: (() => { ready: number; total: number }) | null = null
  private lastProgress = -1

  private async recommended(): Promise<number> {
    if (!this.opts.token) throw new ShardingError('INVALID_OPTION', "reshard.totalShards: 'auto' asks /gateway/bot and needs the manager's `token`")
    return (await fetchGatewayBot(this.opts.api, this.opts.token)).shards
  }

  status(): ManagerStatus {
    const machines: MachineStatus[] = [...this.machines.values()].map((m) => m.status())
    const next = this.runners().filter((m) => m.next)
    return {
      mode: 'machines',
      role: 'parent',
      totalShards: this.totalShards,
      ready: this.isReady,
      identify: this.authority ? this.authority.stats(this.opts.identify.strategy) : null,
      machines,
      ...(next.length ? { reshard: { totalShards: next[0].next!.totalShards, machines: next.map((m) => ({ id: m.id, state: 'starting', instances: m.instancesOf(m.next!.set) })) } } : {}),
    }
  }

  /** Requests in flight on every machine link. */
  inFlight(): number {
    let n = 0
    for (const m of this.machines.values()) n += m.rpc.inFlight.calls + m.rpc.inFlight.serving
    return n
  }

  /**
   * With spares: a machine whose link stays down past the failover delay has its range moved to a
   * spare that is up. The delay covers the lost machine fencing itself first (it stops its shards
   * `failover.after` after it lost us, and we may have noticed earlier), so no shard ever runs twice.
   */
  private linkChanged(): void {
    if (!this.hasSpares || this.stopping) return
    this.failovers()
  }

  private failoverDelay(): number {
    const heartbeatTimeout = this.config.link.heartbeatTimeout ?? 15_000
    return this.config.failover.after + heartbeatTimeout + this.opts.timeouts.kill + 1000
  }

  private failovers(): void {
    const links = [...this.machines.values()].map((link) => ({ link, up: link.up, hasSlice: link.slice !== null, downAt: link.downAt }))
    const { due, recheckIn } = failoverDue(links, monotonicNow(), this.failoverDelay())
    if (this.failoverTimer) clearTimeout(this.failoverTimer)
    this.failoverTimer = null
    if (recheckIn !== null) {
      this.failoverTimer = setTimeout(() => {
        this.failoverTimer = null
        if (!this.stopping) this.failovers()
      }, recheckIn + 1)
      this.failoverTimer.unref()
    }
    for (const { link: lost } of due) {
      const spare = [...this.machines.values()].find((m) => m.up && !m.slice && !m.next)
      if (!spare) {
        this.emit('machineError', { machine: lost.id, code: 'NO_SPARE', reason: `machine ${lost.id} is lost but no spare is connected to take its shards; they move when one is` })
        continue
      }
      const slice = lost.slice!
      // the lost machine has fenced itself by now: a turn it was handed cannot be used any more
      this.authority?.releaseHeldIdentifies((s) => lost.owns(s))
      lost.release(spare.id)
      spare.takeOver(slice)
      this.emit('machineFailover', { from: lost.id, to: spare.id, shards: [...slice.shards] })
    }
  }

  private readonly emit = (name: string, ...args: unknown[]): void => this.events.emitEvent(name, ...args)

  /** What a child asks the root: identify turns, start slots, and its bots' requests. Fields are checked first. */
  private async serveChild(machine: MachineLink, kind: string, d: Record<string, unknown>, ctx: CallContext): Promise<unknown> {
    const authority = this.authority!
    switch (kind) {
      case 'identify': {
        const shardId = field.shardId(d.shardId, machine)
        authority.noteIdentifies('coordinated', [shardId])
        // held until the child says it handed the turn over (identifySettled): see IdentifyScheduler
        await authority.identify(shardId, ctx.signal, { hold: true })
        return null
      }
      case 'startSlot': {
        const holder = `${machine.id}/${field.string(d.holder, 'holder')}`
        const shards = field.shards(d.shards, 'shards').filter((s) => machine.owns(s))
        const slot = await authority.acquireStart(holder, shards, ctx.signal)
        if (slot.exclusive) machine.heldSlots.add(slot.holder)
        return { holder: d.holder, exclusive: slot.exclusive, coordinated: slot.coordinated === true }
      }
      case 'bot': {
        const origin = field.record(d.origin, 'origin') as unknown as Origin
        // An instance speaks for itself only: the origin's machine is the link it came over.
        const from: Origin = { instance: field.int(origin.instance, 'origin.instance'), machine: machine.id, shards: field.shards(origin.shards, 'origin.shards') }
        return answerBotRequest(
          {
            fanout: (a, t, scope, failFast) => this.fanout(a, t, scope, failFast),
            rollingRestart: () => this.rollingRestart({ deadline: Infinity }),
            emitEvent: this.emit,
            listenerCount: (e) => this.events.listenerCount(e),
          },
          from,
          field.string(d.botKind, 'botKind'),
          field.record(d.data ?? {}, 'data'),
          ctx,
        )
      }
      default:
        throw new ProtocolError(`unknown request ${JSON.stringify(kind)} from machine ${machine.id}`, 'UNKNOWN_OP')
    }
  }

  private onChildMessage(machine: MachineLink, msg: ChildMessage): void {
    const authority = this.authority
    if (!authority) return
    switch (msg.op) {
      case 'release': {
        const holder = `${machine.id}/${msg.d.holder}`
        if (machine.heldSlots.delete(holder)) authority.releaseStart({ holder, exclusive: true }, msg.d.outcome)
        return
      }
      case 'session':
        if (machine.owns(msg.d.shardId)) authority.sessions.update(msg.d.shardId, msg.d.totalShards, msg.d.session)
        return
      case 'uncoordinated':
        authority.noteIdentifies('uncoordinated', msg.d.shards.filter((s) => machine.owns(s)))
        return
      case 'identifySent':
        if (machine.owns(msg.d.shardId)) authority.identifySent(msg.d.shardId)
        return
      case 'identifySettled':
        if (machine.owns(msg.d.shardId)) authority.identifySettled(msg.d.shardId)
        return
      case 'assigned':
        if ('refused' in msg.d) {
          this.emit('machineError', { machine: machine.id, code: msg.d.refused.code ?? 'ASSIGNMENT_REFUSED', reason: `refused its assignment: ${msg.d.refused.message}` })
          return
        }
        for (const s of msg.d.sessions) if (machine.owns(s.shardId)) authority.sessions.update(s.shardId, s.shardCount, s)
        // Identify turns the child got from a previous parent still count against the windows.
        for (const r of msg.d.recentIdentifies) if (machine.owns(r.shardId)) authority.scheduler.markUsed([r.shardId], r.agoMs)
        return
      case 'event': {
        let args: unknown
        try {
          args = deserializeValue(msg.d.args)
        } catch (err) {
          this.emit('machineError', { machine: machine.id, code: 'MALFORMED_MESSAGE', reason: `event ${msg.d.name}: ${(err as Error).message}` })
          return
        }
        this.emit(msg.d.name, ...(Array.isArray(args) ? args : [args]))
        return
      }
      case 'status':
        if (this.progressOf) {
          const p = this.progressOf()
          if (p.ready !== this.lastProgress) {
            this.lastProgress = p.ready
            this.emit('reshardProgress', p)
          }
        }
        return
    }
  }
}

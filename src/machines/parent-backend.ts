/**
 * The MACHINES parent (`me: 'parent'`): the root of the bot. It holds the identify authority, the
 * start gate and the session store for every machine, connects to each contact point over mutual
 * TLS, assigns each child its slice, and answers what their instances ask of the manager tier.
 */
import { NoTargetError, ShardingError } from '../errors.js'
import { matches, noTarget, type FanoutEntry, type Target } from '../ipc/targets.js'
import { decodeValue, toWireError } from '../ipc/values.js'
import { Authority, resolveLayout } from '../manager/authority.js'
import type { Backend, MachineStatus, ManagerStatus } from '../manager/backend.js'
import { answerBotRequest, type Origin } from '../manager/bot-requests.js'
import type { InstanceAction } from '../manager/instance.js'
import type { ManagerEvents } from '../manager/local-backend.js'
import type { ResolvedOptions } from '../manager/options.js'
import { MachineLink } from './machine-link.js'
import type { ChildMessage } from './protocol.js'

type ParentConfig = Extract<NonNullable<ResolvedOptions['machines']>, { me: 'parent' }>

export class ParentBackend implements Backend {
  private readonly config: ParentConfig
  private readonly machines = new Map<string, MachineLink>()
  private authority: Authority | null = null
  totalShards: number | null = null
  private isReady = false

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

  async start(): Promise<void> {
    const owned = this.config.points.flatMap((p) => p.shards)
    const layout = await resolveLayout({ ...this.opts, totalShards: this.opts.totalShards ?? this.config.totalFromPoints }, owned, this.emit)
    this.totalShards = layout.totalShards
    this.authority = new Authority(this.opts, layout, this.emit)
    const allReady = this.config.points.map((point) => {
      const machine: MachineLink = new MachineLink(point, this.opts, layout.totalShards, this.config.link, {
        emit: this.emit,
        handleRequest: (kind, d, signal): Promise<unknown> => this.serveChild(machine, kind, d, signal),
        handleMessage: (msg) => this.onChildMessage(machine, msg),
        onNewSession: () => {
          if (this.authority) machine.releaseHeldSlots(this.authority.gate)
        },
      })
      this.machines.set(point.id, machine)
      return machine.whenReady()
    })
    await Promise.all([...this.machines.values()].map((m) => m.connect()))
    await Promise.all(allReady)
    this.isReady = true
    this.emit('ready')
  }

  /** Stops the shards on every child and leaves each child in standby for the next parent. */
  async stop(): Promise<void> {
    this.authority?.close()
    await Promise.all([...this.machines.values()].map((m) => m.stopShards()))
  }

  async fanout(action: InstanceAction, target: Target, timeoutMs: number): Promise<FanoutEntry[]> {
    const selected = [...this.machines.values()].filter((m) => matches(m.endpoint(), target))
    if (selected.length === 0) throw noTarget(target)
    const perMachine = await Promise.all(
      selected.map(async (m) => {
        try {
          return (await m.rpc.call('fanout', { action, target, timeout: timeoutMs }, timeoutMs + 2000)) as FanoutEntry[]
        } catch (err) {
          if (err instanceof NoTargetError) return []
          // The machine could not answer: one failed entry per instance it should have answered for.
          return m.plannedInstances(target).map((p) => ({ instance: p.id, machine: m.id, shards: p.shards, ok: false, error: toWireError(err) }))
        }
      }),
    )
    const entries = perMachine.flat()
    if (entries.length === 0) throw noTarget(target)
    return entries.sort((a, b) => a.instance - b.instance)
  }

  async respawn(instanceId: number): Promise<void> {
    const machine = [...this.machines.values()].find((m) => m.plannedInstances({ instances: [instanceId] }).length > 0)
    if (!machine) throw new ShardingError('NO_SUCH_INSTANCE', `no instance ${instanceId} on any machine`)
    await machine.rpc.call('respawn', { instance: instanceId }, 0)
  }

  async rollingRestart(): Promise<void> {
    for (const m of this.machines.values()) await m.rpc.call('rolling', {}, 0)
  }

  status(): ManagerStatus {
    const machines: MachineStatus[] = [...this.machines.values()].map((m) => m.status())
    return {
      mode: 'machines',
      role: 'parent',
      totalShards: this.totalShards,
      ready: this.isReady,
      identify: this.authority ? this.authority.stats(this.opts.identify.strategy) : null,
      machines,
    }
  }

  private readonly emit = (name: string, ...args: unknown[]): void => this.events.emitEvent(name, ...args)

  /** What a child asks the root: identify turns, start slots, and its bots' requests. */
  private async serveChild(machine: MachineLink, kind: string, d: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    const authority = this.authority!
    switch (kind) {
      case 'identify':
        authority.noteCoordinatedIdentify()
        await authority.identify(d.shardId as number, signal)
        return null
      case 'startSlot': {
        const slot = await authority.acquireStart(`${machine.id}/${d.holder as string}`, signal)
        if (slot.exclusive) machine.heldSlots.add(slot.holder)
        return { holder: d.holder, exclusive: slot.exclusive }
      }
      case 'bot':
        return answerBotRequest(
          {
            fanout: (a, t, ms) => this.fanout(a, t, ms),
            rollingRestart: () => this.rollingRestart(),
            emitEvent: this.emit,
            listenerCount: (e) => this.events.listenerCount(e),
            defaultTimeout: this.opts.timeouts.request,
          },
          d.origin as Origin,
          d.botKind as string,
          d.data as Record<string, unknown>,
        )
      default:
        throw new ShardingError('UNKNOWN_OP', `unknown request ${JSON.stringify(kind)} from machine ${machine.id}`)
    }
  }

  private onChildMessage(machine: MachineLink, msg: ChildMessage): void {
    const authority = this.authority
    switch (msg.t) {
      case 'release':
        if (authority && machine.heldSlots.delete(`${machine.id}/${msg.d.holder}`)) {
          authority.releaseStart({ holder: `${machine.id}/${msg.d.holder}`, exclusive: true }, msg.d.outcome)
        }
        return
      case 'session':
        authority?.sessions.update(msg.d.shardId, msg.d.session)
        return
      case 'uncoordinated':
        authority?.noteUncoordinatedIdentifies(msg.d.shards)
        return
      case 'assigned':
        for (const [id, s] of Object.entries(msg.d.sessions)) authority?.sessions.update(Number(id), s)
        return
      case 'event': {
        const args = decodeValue(msg.d.args) as unknown[]
        this.emit(msg.d.name, ...args)
        return
      }
      case 'status':
        return
      default:
        this.emit('machineError', { machine: machine.id, code: 'UNKNOWN_OP', reason: `unknown message ${JSON.stringify((msg as { t?: unknown }).t)}; ignored` })
    }
  }
}

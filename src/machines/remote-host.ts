/**
 * How a child manager's instances reach the bot's root: identify turns and start slots go to the
 * parent (and wait for it while it is away: a restarted parent picks them up, they never guess);
 * sessions are kept here too, so a local respawn can RESUME while the parent is unreachable.
 * Traffic between instances of this machine stays on this machine; only what crosses machines,
 * or is meant for the manager itself, goes to the parent.
 */
import { LinkLostError } from '../errors.js'
import { matches, type FanoutEntry, type Target } from '../ipc/targets.js'
import { serializeValue } from '../ipc/values.js'
import { answerBotRequest, type Origin } from '../manager/bot-requests.js'
import type { InstanceAction } from '../manager/instance-channel.js'
import type { BotServices, InstanceHost, RootServices } from '../manager/instance-host.js'
import { SessionStore } from '../manager/session-store.js'
import type { StartSlot } from '../manager/start-gate.js'
import type { SessionInfo } from '../runtime/context.js'
import { NO_DEADLINE } from '../rpc/deadline.js'
import type { CallContext, CallScope } from '../rpc/endpoint.js'
import { monotonicNow } from '../util/clock.js'
import { FORWARDED_EVENTS, LinkOps, type Assignment } from './protocol.js'

const FORWARDED: ReadonlySet<string> = new Set(FORWARDED_EVENTS)

/** The child's side of its parent link, as the host uses it. */
export interface ParentLink {
  call(kind: string, data: Record<string, unknown>, scope: CallScope): Promise<unknown>
  /** Queues a message for the parent (delivered once it is attached). */
  send(op: string, d: unknown): void
  /** Resolves once a parent is attached (now, if one is); rejects when `signal` aborts. */
  attached(signal: AbortSignal): Promise<void>
}

export interface LocalPool {
  run(action: InstanceAction, target: Target, scope: CallScope, failFast?: boolean): Promise<FanoutEntry[]>
  rollingRestart(): Promise<void>
}

export class RemoteHost implements InstanceHost {
  readonly sessions = new SessionStore()
  private readonly ownShards: Set<number>
  private pool: LocalPool | null = null
  /** The parent's start gate found the bot coordinated: every later start slot is free. */
  private coordinated = false
  /** Whether this set serves the bot (false for a re-shard's new set until the parent switches). */
  active = true

  constructor(
    private readonly assignment: Assignment,
    private readonly parent: ParentLink,
    /** When each shard last got an identify turn (monotonic), kept across assignments by the child. */
    private readonly identifyTimes: Map<number, number>,
    private readonly emitLocal: (name: string, ...args: unknown[]) => void,
    private readonly listenerCount: (name: string) => number,
  ) {
    this.ownShards = new Set(assignment.shards)
  }

  setPool(pool: LocalPool): void {
    this.pool = pool
  }

  get machineId(): string {
    return this.assignment.machineId
  }

  get totalShards(): number {
    return this.assignment.totalShards
  }

  get requestTimeout(): number {
    return this.assignment.timeouts.request
  }

  readonly root: RootServices = {
    identify: async (shardId, signal) => {
      try {
        await this.callRoot('identify', { shardId }, signal)
      } finally {
        // The parent holds the key until it hears this: the turn is handed to the instance now (the
        // instance uses it within its turn limit or asks again), or it was given up and never will be.
        this.parent.send(LinkOps.IDENTIFY_SETTLED, { shardId })
      }
      this.identifyTimes.set(shardId, monotonicNow())
    },
    // The parent spaces the key's next turn from this report's arrival, an upper bound of the send even
    // when the grant sat behind a congested link (how late the send was after the grant reached us would
    // miss that). Lost while the parent is away, the grant's own spacing holds.
    identifySent: (shardId) => this.parent.send(LinkOps.IDENTIFY_SENT, { shardId }),
    acquireStart: async (holder, shards, signal) => {
      // Once the parent said the bot coordinates its identifies, a start needs no slot: a respawn
      // goes ahead while the parent is away (its shards RESUME, or wait for their identify turn).
      if (this.coordinated) return { holder, exclusive: false }
      const slot = (await this.callRoot('startSlot', { holder, shards }, signal)) as StartSlot
      if (!slot.exclusive || slot.coordinated) this.coordinated = true
      return slot
    },
    releaseStart: (slot, outcome) => {
      if (slot.exclusive) this.parent.send(LinkOps.RELEASE, { holder: slot.holder, outcome })
    },
    noteIdentifies: (how, shards) => {
      // The parent sees coordinated identify requests itself.
      if (how !== 'uncoordinated') return
      const now = monotonicNow()
      for (const s of shards) this.identifyTimes.set(s, now)
      this.parent.send(LinkOps.UNCOORDINATED, { shards })
    },
    sessionsFor: (shards, totalShards) => this.sessions.forShards(shards, totalShards),
    gatewayHandOver: () => {
      const g = this.assignment.gateway
      return g && g.at !== undefined ? { api: g.api, at: g.at, data: g.data } : null
    },
    updateSession: (shardId: number, totalShards: number, session: SessionInfo | null) => {
      this.sessions.update(shardId, totalShards, session)
      this.parent.send(LinkOps.SESSION, { shardId, totalShards, session })
    },
  }

  readonly bot: BotServices = {
    request: (from: Origin, kind: string, data: Record<string, unknown>, ctx: CallContext) => {
      if (this.pool && this.staysHere(kind, data)) {
        const pool = this.pool
        return answerBotRequest(
          { fanout: (a, t, scope, failFast) => pool.run(a, t, scope, failFast), rollingRestart: () => pool.rollingRestart(), emitEvent: this.emitLocal, listenerCount: this.listenerCount },
          from,
          kind,
          data,
          ctx,
        )
      }
      return this.parent.call('bot', { origin: from, botKind: kind, data }, ctx)
    },
    rawMessage: (from: Origin, message: unknown) => {
      this.emitLocal('message', message, from)
      this.parent.send(LinkOps.EVENT, { name: 'message', args: serializeValue([message, from]) })
    },
  }

  emitEvent(name: string, ...args: unknown[]): void {
    this.emitLocal(name, ...args)
    if (FORWARDED.has(name)) this.parent.send(LinkOps.EVENT, { name, args: serializeValue(args) })
  }

  /**
   * A broadcast or targeted message whose target can only match instances of this machine (its
   * shards, its instances, or this machine by name) is answered here, without crossing a link.
   */
  private staysHere(kind: string, data: Record<string, unknown>): boolean {
    let target: Target | undefined
    if (kind === 'broadcast' || (kind === 'send' && data.target)) target = (data.target ?? {}) as Target
    else if (kind === 'djsBroadcast' && typeof data.shard === 'number') target = { shards: [data.shard] }
    if (!target) return false
    if (target.machines) return target.machines.length > 0 && target.machines.every((m) => m === this.machineId)
    if (target.shards?.length) return target.shards.every((s) => this.ownShards.has(s))
    if (target.instances?.length) {
      const first = this.assignment.firstInstanceId
      const count = Math.ceil(this.assignment.shards.length / this.assignment.shardsPerInstance)
      return target.instances.every((i) => i >= first && i < first + count) && matches({ machine: this.machineId, instances: target.instances, shards: this.assignment.shards }, target)
    }
    return false
  }

  /**
   * A call to the root that must not fail because the parent went away: when its session ends
   * (a restarted parent), it is asked again of the next parent. Only `signal` ends it early.
   */
  private async callRoot(kind: string, data: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    for (;;) {
      try {
        return await this.parent.call(kind, data, { deadline: NO_DEADLINE, signal })
      } catch (err) {
        if (signal.aborted || !(err instanceof LinkLostError)) throw err
        await this.parent.attached(signal)
      }
    }
  }
}

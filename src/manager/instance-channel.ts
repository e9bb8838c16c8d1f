/**
 * The manager's end of one spawned instance's channel (process IPC or worker messages): requests
 * both ways on the one request layer, discord.js's ShardClientUtil protocol for bots without our
 * client, and the instance's reports (hello, ready, shard states, sessions, crashes), which go to
 * the Instance that owns the lifecycle. A new channel is made for every spawn, so nothing of a
 * previous process can answer for the new one.
 */
import { PROTOCOL_VERSION } from '../constants.js'
import { InstanceDiedError, ShardingError } from '../errors.js'
import { envelope, isDiscordJsMessage, KNOWN_OPS, Ops, type Envelope } from '../ipc/envelope.js'
import { Packer, unpack } from '../ipc/packing.js'
import type { WireError } from '../ipc/values.js'
import type { ChildHandle } from '../modes/driver.js'
import type { SessionInfo } from '../runtime/context.js'
import { partsDeadline } from '../rpc/deadline.js'
import { RpcEndpoint, settleInto, type CallContext, type CallScope, type CallSink } from '../rpc/endpoint.js'
import type { Origin } from './bot-requests.js'
import { DjsBridge, djsScript } from './djs-bridge.js'
import type { InstanceHost } from './instance-host.js'

/** An action run on one instance: what broadcastEval / fetchClientValues / request / send become. */
export type InstanceAction =
  | { type: 'eval'; fn: string; context: unknown }
  | { type: 'script'; script: string }
  | { type: 'fetch'; prop: string }
  | { type: 'request'; message: unknown; from?: unknown }
  | { type: 'send'; message: unknown; from?: unknown }

export type ShardState = 'ready' | 'disconnected' | 'reconnecting' | 'resumed'

/** What the channel reports to the Instance that owns it. */
export interface ChannelReports {
  hello(): void
  ready(): void
  shard(shardId: number, state: string, code?: number): void
  /** discord.js's id-less shard reports (unmodified bots). */
  inferredShard(state: ShardState): void
  heartbeatAck(d: unknown): void
  crash(error: WireError): void
  fatal(error: WireError): void
  /** Identify turns in flight changed (waiting in the queue is not the instance's fault). */
  identifyWaiting(count: number): void
}

export class InstanceChannel {
  /** What drives the instance: our ShardingClient, an attached bot client, or neither (discord.js alone). */
  clientKind: 'none' | 'sharding' | 'bot' = 'none'
  /** An unmodified bot adapted by the runtime reads messages with process.on('message'): keep them raw. */
  private rawMessages = false
  /** Identify turns the instance asked for (0 at ready: its own throttler identified). */
  identifyRequests = 0
  private identifiesWaiting = 0
  private readonly rpc: RpcEndpoint
  private readonly djs: DjsBridge
  /** Everything sent to the instance goes through here, in order; calls in flight share messages. */
  private readonly out: Packer

  constructor(
    private readonly origin: Origin,
    private readonly child: ChildHandle,
    private readonly host: InstanceHost,
    private readonly reports: ChannelReports,
  ) {
    const id = origin.instance
    const gone = () => new InstanceDiedError(id, `instance ${id} is not running any more`)
    this.out = new Packer({ send: (msg) => child.send(msg), closedError: gone }, (msg, err) => this.rpc.undeliverable(msg, err), {
      busy: () => this.rpc.callsInFlight > 1,
    })
    this.rpc = new RpcEndpoint(
      {
        name: `instance ${id}`,
        post: (msg) => {
          if (!this.out.sendCall(msg)) throw gone()
        },
        errorWhere: { instance: id, machine: origin.machine },
        onProtocolError: (err) => host.emitEvent('debug', err.message),
      },
      (kind, d, ctx) => this.serve(kind, d, ctx),
    )
    this.djs = new DjsBridge({
      id,
      // discord.js's protocol goes where discord.js listens, beside (not inside) ours.
      send: (msg) => child.sendShared(msg),
      shardEvent: (state) => {
        // A bot that attached reports shards by id; discord.js's id-less reports are only used otherwise.
        if (this.clientKind !== 'bot') reports.inferredShard(state)
      },
      broadcast: (action, shard, ctx) => this.host.bot.request(this.origin, 'djsBroadcast', { action, shard }, ctx),
      respawnAll: () => void this.host.bot.request(this.origin, 'respawnAll', {}, detached()).catch(() => {}),
      defaultTimeout: host.requestTimeout,
    })
  }

  get inFlight(): { calls: number; serving: number; djs: number } {
    return { ...this.rpc.inFlight, djs: this.djs.pending }
  }

  onMessage(raw: unknown, packed = false): void {
    // isEnvelope() written out: every message passes here (see "Small helpers" in src/ipc/envelope.ts)
    const msg = raw as Envelope
    if (typeof raw !== 'object' || raw === null || msg.v !== PROTOCOL_VERSION || !KNOWN_OPS.has(msg.op)) {
      if (isDiscordJsMessage(raw) && this.djs.handle(raw)) return
      return this.host.bot.rawMessage(this.origin, raw)
    }
    if (this.rpc.handle(msg)) return
    if (msg.op === Ops.PACK && !packed) {
      const messages = unpack(msg)
      if (!messages) return this.host.emitEvent('debug', `instance ${this.origin.instance} sent a malformed pack (its body is not a list); dropped`)
      this.out.batch(() => {
        for (const m of messages) this.onMessage(m, true)
      })
      return
    }
    const d = (msg.d ?? {}) as Record<string, unknown>
    switch (msg.op) {
      case Ops.HELLO:
        return this.reports.hello()
      case Ops.ATTACHED:
        this.clientKind = d.target === 'bot' || this.clientKind === 'bot' ? 'bot' : 'sharding'
        this.rawMessages = d.target === 'bot' ? d.raw === true : false
        // The runtime gave an unmodified discord.js client our identify queue: it will ask, start everyone.
        if (d.identify === true) this.host.root.noteIdentifies('announced', [...this.origin.shards])
        return
      case Ops.DEBUG:
        return this.host.emitEvent('debug', `instance ${this.origin.instance}: ${String(d.message)}`)
      case Ops.IDENTIFY_SENT:
        if (typeof d.shardId === 'number' && this.origin.shards.includes(d.shardId)) this.host.root.identifySent(d.shardId, sentAgo(d.sentAt))
        return
      case Ops.READY:
        return this.reports.ready()
      case Ops.SHARD:
        if (typeof d.shardId === 'number' && typeof d.state === 'string') this.reports.shard(d.shardId, d.state, typeof d.code === 'number' ? d.code : undefined)
        return
      case Ops.SESSION:
        if (typeof d.shardId === 'number' && this.origin.shards.includes(d.shardId)) this.host.root.updateSession(d.shardId, this.host.totalShards, (d.session ?? null) as SessionInfo | null)
        return
      case Ops.HEARTBEAT_ACK:
        return this.reports.heartbeatAck(d)
      case Ops.CRASH:
        return this.reports.crash(d.error as WireError)
      case Ops.FATAL:
        return this.reports.fatal(d.error as WireError)
    }
  }

  post(op: string, d?: unknown): void {
    this.out.send(envelope(op, d))
  }

  /** Runs an action in the instance; resolves with a serialized value. */
  run(action: InstanceAction, scope: CallScope): Promise<unknown> {
    const viaDiscordJs = this.clientKind !== 'bot' && this.djs.seen
    switch (action.type) {
      case 'eval':
        return viaDiscordJs ? this.djs.evalScript(djsScript(action.fn, action.context), scope) : this.call(action, scope)
      case 'script':
        return viaDiscordJs ? this.djs.evalScript(action.script, scope) : this.call(action, scope)
      case 'fetch':
        return viaDiscordJs ? this.djs.fetchProp(action.prop, scope) : this.call(action, scope)
      case 'request':
        return this.call(action, scope)
      case 'send':
        // A bot without ShardingClient only has process.on('message'): give it the raw message.
        if (this.clientKind === 'none' || this.rawMessages) this.child.sendShared(action.message)
        else this.post(Ops.MESSAGE, { message: action.message, from: action.from ?? 'manager' })
        return Promise.resolve(undefined)
    }
  }

  /** `run`, its outcome given to `sink` (a fan-out's part): requests to our runtime make no promise. */
  runInto(action: InstanceAction, scope: CallScope, sink: CallSink, tag: number): void {
    const viaDiscordJs = this.clientKind !== 'bot' && this.djs.seen
    if (action.type === 'send' || (viaDiscordJs && action.type !== 'request')) return settleInto(this.run(action, scope), sink, tag)
    this.rpc.callInto(action.type, action as unknown as Record<string, unknown>, scope, sink, tag)
  }

  /** The instance is gone: everything in flight to or from it fails now. */
  close(err: InstanceDiedError): void {
    this.rpc.failAll(err)
    this.djs.rejectAll(err)
  }

  /** The action itself is the request's data (its `type` is the request kind; the instance ignores the field). */
  private call(action: Exclude<InstanceAction, { type: 'send' }>, scope: CallScope): Promise<unknown> {
    return this.rpc.call(action.type, action as unknown as Record<string, unknown>, scope)
  }

  /** Requests from the instance: identify turns, and what the bot asks of the manager tier. */
  private async serve(kind: string, d: Record<string, unknown>, ctx: CallContext): Promise<unknown> {
    if (kind === 'identify') return this.grantIdentify(d.shardId, ctx.signal, d.lateMs)
    return this.host.bot.request(this.origin, kind, d, { deadline: partsDeadline(ctx.deadline), signal: ctx.signal })
  }

  /** Answers with when it answered (`at`, this machine's clock), so the bot can tell a turn that reached it late. */
  private async grantIdentify(shardId: unknown, signal: AbortSignal, lateMs?: unknown): Promise<{ at: number }> {
    if (typeof shardId !== 'number' || !this.origin.shards.includes(shardId)) {
      throw new ShardingError('NOT_MY_SHARD', `instance ${this.origin.instance} asked to identify shard ${JSON.stringify(shardId)}, which it does not run`)
    }
    if (typeof lateMs === 'number') {
      this.host.emitEvent('debug', `shard ${shardId} (instance ${this.origin.instance}) asks again: its last turn reached it ${Math.round(lateMs)} ms late, so it did not identify`)
    }
    this.identifyRequests++
    this.host.root.noteIdentifies('coordinated', [shardId])
    this.reports.identifyWaiting(++this.identifiesWaiting)
    try {
      await this.host.root.identify(shardId, signal)
      this.host.emitEvent('debug', `shard ${shardId} (instance ${this.origin.instance}) may identify`)
      return { at: Date.now() }
    } finally {
      this.reports.identifyWaiting(--this.identifiesWaiting)
    }
  }
}

/** A call nobody waits on (discord.js's fire-and-forget respawnAll): no deadline, no signal. */
function detached(): CallContext {
  return { deadline: Infinity, signal: new AbortController().signal }
}

/**
 * How long ago an instance's report says its IDENTIFY left. Instances run on this host, so their
 * `Date.now()` is ours; a millisecond is taken off for the two readings' truncation, so the send is
 * never placed earlier than it was. A missing or odd value counts as "just now".
 */
export function sentAgo(sentAt: unknown): number {
  if (typeof sentAt !== 'number' || !Number.isFinite(sentAt)) return 0
  return Math.max(0, Date.now() - sentAt - 1)
}

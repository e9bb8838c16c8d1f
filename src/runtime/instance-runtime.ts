/**
 * The part of an instance that belongs to the manager, not to the bot: it is loaded before the
 * user's client file (a --require preload for processes, the worker entry for workers) so that
 * heartbeats, crash reports, graceful shutdown and orphan exit work even for an unmodified bot.
 * ShardingClient (the public shard-side API) is a thin facade over the one runtime per instance,
 * kept on globalThis so that the ESM and CJS builds, or two copies of the package, share it.
 */
import { EventEmitter } from 'node:events'
import { FATAL_EXIT_CODE, PROTOCOL_VERSION } from '../constants.js'
import { ShardingError } from '../errors.js'
import { envelope, Ops, type Envelope } from '../ipc/envelope.js'
import { Packer, unpack } from '../ipc/packing.js'
import { deserializeValue, serializeValue, toWireError } from '../ipc/values.js'
import type { Deadline } from '../rpc/deadline.js'
import { untilAborted } from '../rpc/abort.js'
import { RpcEndpoint, isThenable, type CallContext } from '../rpc/endpoint.js'
import { openManagerChannel, type ManagerChannel } from './channel.js'
import { readContext, type InstanceContext, type SessionInfo } from './context.js'
import { primeEvalPath } from './eval-priming.js'
import { readPath, runFunction, runScript } from './evaluate.js'
import { isFatalGatewayError } from './fatal.js'

const RUNTIME_KEY = Symbol.for('discordoo-sharding.runtime')

export interface ShardStatus {
  id: number
  state: string
  ping?: number
  guilds?: number
}

/** What the bot side plugs into the runtime (ShardingClient.attach sets these). */
export interface RuntimeHooks {
  /** Object broadcastEval functions receive and fetchClientValues reads. */
  target?: unknown
  /** Per-shard status for heartbeats (ping, guild count). */
  shardStatus?: () => ShardStatus[]
  /** Closes the bot's gateway sessions on a final stop (not on a resumable restart). */
  destroy?: () => Promise<unknown> | unknown
}

const SESSION_FLUSH_MS = 1000
/** Late identify turns in a row after which the next one is used anyway (a shard must start eventually). */
export const MAX_LATE_TURNS = 5

export class InstanceRuntime {
  readonly context: InstanceContext
  readonly events = new EventEmitter()
  readonly hooks: RuntimeHooks = {}
  private readonly channel: ManagerChannel
  /** Everything this runtime sends to the manager goes through here, in order; answers share messages. */
  private readonly out: Packer
  private readonly rpc: RpcEndpoint
  private readonly pendingSessions = new Map<number, SessionInfo | null>()
  /** Session id last sent to the manager per shard (null: reported ended). */
  private readonly sentSessionIds = new Map<number, string | null>()
  private sessionTimer: NodeJS.Timeout | null = null
  private shuttingDown = false
  private primed = false
  /** See InstanceContext.active; changed by the manager when a re-shard switches sets. */
  active: boolean

  static current(): InstanceRuntime | null {
    return ((globalThis as Record<symbol, unknown>)[RUNTIME_KEY] as InstanceRuntime | undefined) ?? null
  }

  /** Creates the instance's runtime once; later calls return the same one. */
  static install(): InstanceRuntime | null {
    const existing = InstanceRuntime.current()
    if (existing) return existing
    const context = readContext()
    if (!context) return null
    const runtime = new InstanceRuntime(context)
    ;(globalThis as Record<symbol, unknown>)[RUNTIME_KEY] = runtime
    return runtime
  }

  private constructor(context: InstanceContext) {
    this.context = context
    this.active = context.active !== false
    this.channel = openManagerChannel(context.mode)
    const gone = () => new ShardingError('MANAGER_GONE', 'the manager is gone')
    this.out = new Packer({ send: (msg) => this.channel.send(msg), closedError: gone }, (msg, err) => this.rpc.undeliverable(msg, err), {
      busy: () => this.rpc.callsInFlight > 1,
    })
    this.rpc = new RpcEndpoint(
      {
        name: 'the manager',
        post: (msg) => {
          if (!this.out.sendCall(msg)) throw gone()
        },
      },
      (kind, d, ctx) => this.execute(kind, d, ctx),
    )
    this.channel.onMessage(this.onMessage.bind(this)) // (bound, not an arrow: one small function less per message)
    this.channel.onClose(() => this.onManagerGone())
    if (context.mode === 'processes') this.installCrashReporter()
    // The preload must not keep a finished client file alive; ShardingClient re-refs the channel.
    this.setChannelRef(false)
    this.post(Ops.HELLO, { pid: process.pid, instanceId: context.instanceId, protocol: PROTOCOL_VERSION })
  }

  setChannelRef(ref: boolean): void {
    if (this.context.mode === 'processes') {
      const ch = (process as unknown as { channel?: { ref(): void; unref(): void } }).channel
      if (ref) ch?.ref()
      else ch?.unref()
    }
  }

  /**
   * Tells the manager this instance is ready. The first time, the eval path gets its type feedback
   * first (src/runtime/eval-priming.ts): now, with the bot loaded and V8's compiler no longer held
   * (optimizer-hold.ts), and before any eval can arrive, since the manager sends none before ready.
   */
  reportReady(): void {
    if (!this.primed) {
      this.primed = true
      primeEvalPath((call) => this.evaluate(call))
    }
    this.post(Ops.READY, {})
  }

  post(op: string, d?: unknown, id?: number): void {
    this.out.send(envelope(op, d, id))
  }

  /** Sends a request to the manager, to be answered by `deadline`; cancelled when `signal` aborts. */
  request(kind: string, data: Record<string, unknown>, opts: { deadline?: Deadline; signal?: AbortSignal } = {}): Promise<unknown> {
    return this.rpc.call(kind, data, { ...opts, describe: `${kind} request to the manager` })
  }

  /**
   * An identify turn that the bot can use: asks the manager, and asks again when the answer reached
   * this instance more than `turnLimitMs` after the manager gave it (this instance's event loop was
   * busy meanwhile), because the key's next turn may already be on its way (a reported send moves
   * the key's next turn too, but only if the report arrives before that turn is given). After
   * MAX_LATE_TURNS late turns in a row the next one is used anyway.
   */
  async identifyTurn(shardId: number, signal?: AbortSignal): Promise<void> {
    const limit = this.context.turnLimitMs
    let lateMs: number | undefined
    for (let late = 0; ; late++) {
      const answer = await this.request('identify', lateMs === undefined ? { shardId } : { shardId, lateMs }, { signal })
      const at = (answer as { at?: unknown } | null)?.at
      if (typeof at !== 'number' || typeof limit !== 'number' || late >= MAX_LATE_TURNS) return
      lateMs = Date.now() - at
      if (lateMs <= limit) return
    }
  }

  /** Stores the newest session of a shard; sent to the manager at most once a second (sequence moves on every dispatch). */
  reportSession(shardId: number, session: SessionInfo | null): void {
    this.pendingSessions.set(shardId, session)
    // Compared with what was last *sent*, not with what is pending: pending is emptied by every
    // flush, so comparing with it sent every sequence update at once (an IPC message per dispatch).
    const isNewSession = !session || this.sentSessionIds.get(shardId) !== session.sessionId
    if (isNewSession) return this.flushSessions()
    if (!this.sessionTimer) {
      this.sessionTimer = setTimeout(() => this.flushSessions(), SESSION_FLUSH_MS)
      this.sessionTimer.unref()
    }
  }

  flushSessions(): void {
    if (this.sessionTimer) clearTimeout(this.sessionTimer)
    this.sessionTimer = null
    for (const [shardId, session] of this.pendingSessions) {
      this.post(Ops.SESSION, { shardId, session })
      this.sentSessionIds.set(shardId, session?.sessionId ?? null)
    }
    this.pendingSessions.clear()
  }

  private onMessage(raw: unknown, packed = false): void {
    // Only our envelopes arrive here (src/runtime/channel.ts); the check is written out, not isEnvelope():
    // every message passes here (see "Small helpers" in src/ipc/envelope.ts). Unknown ops fall through.
    const msg = raw as Envelope
    if (typeof raw !== 'object' || raw === null || msg.v !== PROTOCOL_VERSION) return
    if (this.rpc.handle(msg)) return
    switch (msg.op) {
      case Ops.PACK: {
        if (packed) return
        const messages = unpack(msg)
        if (!messages) return this.post(Ops.DEBUG, { message: 'the manager sent a malformed pack (its body is not a list); dropped' })
        this.out.batch(() => messages.forEach((m) => this.onMessage(m, true)))
        return
      }
      case Ops.HEARTBEAT:
        return this.post(Ops.HEARTBEAT_ACK, { t: (msg.d as { t: number }).t, memory: memory(), shards: this.safeStatus() })
      case Ops.MESSAGE: {
        const d = msg.d as { message: unknown; from: unknown }
        this.events.emit('message', deserializeValue(d.message), d.from)
        return
      }
      case Ops.ACTIVE: {
        const active = Boolean((msg.d as { active?: boolean } | undefined)?.active)
        if (active === this.active) return
        this.active = active
        this.events.emit(active ? 'activate' : 'deactivate')
        return
      }
      case Ops.SHUTDOWN:
        void this.shutdown(Boolean((msg.d as { resumable?: boolean } | undefined)?.resumable))
        return
    }
  }

  /**
   * Serves the manager's requests; values go back serialized (ipc/values.ts). A synchronous eval or
   * fetch is answered in the same task, without a promise in between.
   */
  private execute(kind: string, d: Record<string, unknown>, ctx: CallContext): unknown {
    const target = this.hooks.target
    switch (kind) {
      case 'eval':
        return this.evaluate(d)
      case 'script':
        return runScript(String(d.script), target).then(serializeValue)
      case 'fetch':
        return serializeValue(readPath(target, String(d.prop)))
      case 'request':
        return this.serveRequest(d, ctx)
      default:
        throw new ShardingError('UNKNOWN_OP', `unknown request kind ${JSON.stringify(kind)}; manager and instance run different versions?`)
    }
  }

  /** A broadcastEval: the function's result, serialized (a promise of it for an async function). */
  private evaluate(d: { fn?: unknown; context?: unknown }): unknown {
    const result = runFunction(String(d.fn), this.hooks.target, deserializeValue(d.context))
    return isThenable(result) ? Promise.resolve(result).then(serializeValue) : serializeValue(result)
  }

  /** A request to the bot's 'request' listeners; answered when one replies, ended by the signal. */
  private async serveRequest(d: Record<string, unknown>, ctx: CallContext): Promise<unknown> {
    if (this.events.listenerCount('request') === 0) {
      throw new ShardingError('NO_HANDLER', `instance ${this.context.instanceId} has no 'request' listener; add sharding.on('request', req => req.reply(...))`)
    }
    // A listener that never replies holds nothing: the request ends with its signal (deadline, cancel).
    const signal = ctx.signal
    const reply = await untilAborted(
      new Promise((resolve, reject) => {
        this.events.emit('request', { message: deserializeValue(d.message), from: d.from, reply: resolve, fail: reject, signal })
      }),
      signal,
    )
    return serializeValue(reply)
  }

  private safeStatus(): ShardStatus[] | undefined {
    try {
      return this.hooks.shardStatus?.()
    } catch {
      return undefined
    }
  }

  /** Graceful stop: tell the bot, close sessions unless a respawn should resume them, report sessions, exit. */
  async shutdown(resumable: boolean): Promise<void> {
    if (this.shuttingDown) return
    this.shuttingDown = true
    this.events.emit('shutdown', { resumable })
    try {
      if (!resumable && this.hooks.destroy) await this.hooks.destroy()
    } catch {
      // Exiting anyway; the manager kills us after its kill timeout if this hangs.
    }
    this.flushSessions()
    this.out.flush()
    this.channel.flush(envelope(Ops.SHUTDOWN, { done: true }), () => process.exit(0))
  }

  /** The manager process died: no orphan may keep gateway sessions a respawned copy would duplicate. */
  private onManagerGone(): void {
    this.rpc.failAll(new ShardingError('MANAGER_GONE', 'the manager is gone'))
    process.exit(0)
  }

  /**
   * Reports an uncaught error to the manager before the process dies, so the manager can show the
   * bot's own error and stack. Only acts when no other handler exists: a bot with its own
   * uncaughtException handler keeps its behaviour.
   */
  private installCrashReporter(): void {
    const handler = (err: unknown) => {
      if (process.listenerCount('uncaughtException') > 1) return
      const fatal = isFatalGatewayError(err)
      console.error(err)
      const code = fatal ? FATAL_EXIT_CODE : 1
      const timer = setTimeout(() => process.exit(code), 1000)
      this.out.flush()
      this.channel.flush(envelope(fatal ? Ops.FATAL : Ops.CRASH, { error: toWireError(err) }), () => {
        clearTimeout(timer)
        process.exit(code)
      })
    }
    process.on('uncaughtException', handler)
  }
}

function memory(): { rss: number; heapUsed: number } {
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed }
}


/**
 * The shard-side API: what the user's client file uses to learn its shards, report readiness,
 * take identify turns from the manager, and reach every other shard.
 *
 *   const sharding = ShardingClient.fromEnvironment()
 *   const client = new Client({ intents, shards: sharding.shards, shardCount: sharding.totalShards })
 *   sharding.attach(client)      // discord.js: identify queue, sessions, ready/resume reporting, eval target
 *   await client.login(token)
 */
import { EventEmitter } from 'node:events'
import { ShardingError } from '../errors.js'
import { Ops } from '../ipc/envelope.js'
import { optionsArg, targetArg } from '../ipc/call-options.js'
import { finishFanout } from '../ipc/results.js'
import { hasSelector, toTarget, wantsSingle, type FanoutEntry, type TargetOptions } from '../ipc/targets.js'
import { serializeValue } from '../ipc/values.js'
import { deadlineIn } from '../rpc/deadline.js'
import type { SessionInfo } from '../runtime/context.js'
import { InstanceRuntime, type ShardStatus } from '../runtime/instance-runtime.js'
import { attachDiscordJs, type AttachOptions } from './discordjs.js'

export interface BroadcastOptions<C = unknown> extends TargetOptions {
  context?: C
  /** The call's deadline, ms from now (default 30 000); every hop works to this one deadline. */
  timeout?: number
  /** Withdraws the call: it rejects with AbortedError and every hop stops waiting for it. */
  signal?: AbortSignal
  allowPartial?: boolean
}

export interface IncomingRequest {
  message: unknown
  from: unknown
  reply(value: unknown): void
  fail(error: unknown): void
  /** Aborts when the caller stops waiting (its deadline passed, it cancelled, or it is gone). */
  signal: AbortSignal
}

export interface IdentifyThrottler {
  waitForIdentify(shardId: number, signal?: AbortSignal): Promise<void>
}

const DEFAULT_TIMEOUT = 30_000

export class ShardingClient extends EventEmitter {
  private static instance: ShardingClient | null = null
  readonly shards: number[]
  readonly totalShards: number
  readonly instanceId: number
  readonly machineId: string
  readonly mode: 'processes' | 'workers'
  /** Last sessions of this instance's shards (handed over after a respawn, so shards can RESUME). */
  readonly sessions: Readonly<Record<number, SessionInfo>>
  private readyShards = new Set<number>()
  private readySent = false

  /** The sharding context of this instance. Throws when the file was not started by a ShardingManager. */
  static fromEnvironment(): ShardingClient {
    if (ShardingClient.instance) return ShardingClient.instance
    const runtime = InstanceRuntime.install()
    if (!runtime) {
      throw new ShardingError(
        'NOT_SHARDED',
        'ShardingClient.fromEnvironment(): this file was not started by a discordoo-sharding ShardingManager (no DISCORDOO_SHARDING in the environment); start it with manager.start()',
      )
    }
    ShardingClient.instance = new ShardingClient(runtime)
    return ShardingClient.instance
  }

  private constructor(private readonly runtime: InstanceRuntime) {
    super()
    const ctx = runtime.context
    this.shards = [...ctx.shards]
    this.totalShards = ctx.totalShards
    this.instanceId = ctx.instanceId
    this.machineId = ctx.machineId
    this.mode = ctx.mode
    this.sessions = Object.freeze({ ...ctx.sessions })
    // Code that uses the sharding API is a long-lived instance: keep the channel (and process) alive.
    runtime.setChannelRef(true)
    runtime.hooks.target ??= this
    runtime.events.on('message', (message, from) => this.emit('message', message, from))
    runtime.events.on('request', (req: IncomingRequest) => this.emit('request', req))
    runtime.events.on('shutdown', (info) => this.emit('shutdown', info))
    runtime.events.on('activate', () => this.emit('activate'))
    runtime.events.on('deactivate', () => this.emit('deactivate'))
    runtime.post(Ops.ATTACHED, { target: 'sharding' })
  }

  /**
   * Whether this instance's shard set serves the bot. During a re-shard the new set connects beside
   * the old one and both receive gateway events; a bot that must not answer twice handles events
   * only while `active` ('activate' / 'deactivate' tell when it changes).
   */
  get active(): boolean {
    return this.runtime.active
  }

  /** Tells the manager this instance is ready (all its shards connected). Idempotent. */
  ready(): void {
    if (this.readySent) return
    this.readySent = true
    this.runtime.reportReady()
  }

  /**
   * Reports one shard's state. `ready` for every shard also marks the instance ready.
   * discord.js bots get this from attach(); other libraries call it themselves.
   */
  reportShard(shardId: number, state: 'ready' | 'disconnected' | 'reconnecting' | 'resumed', code?: number): void {
    this.runtime.post(Ops.SHARD, { shardId, state, ...(code !== undefined ? { code } : {}) })
    if (state === 'ready' || state === 'resumed') {
      this.readyShards.add(shardId)
      if (this.shards.every((s) => this.readyShards.has(s))) this.ready()
    }
  }

  /** Stops this instance for good (no respawn): for errors a restart cannot fix. */
  fatal(reason: string): void {
    this.runtime.post(Ops.FATAL, { error: { name: 'FatalError', message: reason } })
  }

  /**
   * Connects a bot client: eval target, and for discord.js the manager's identify queue, session
   * store and shard state reporting. Call it before `client.login()`.
   */
  attach(botClient: unknown, options: AttachOptions = {}): this {
    this.runtime.hooks.target = botClient
    attachDiscordJs(this, this.runtime, botClient, options)
    this.runtime.post(Ops.ATTACHED, { target: 'bot' })
    return this
  }

  /** Per-shard status provider for heartbeats (ping, guild count); attach() sets one for discord.js. */
  setStatusProvider(provider: () => ShardStatus[]): void {
    this.runtime.hooks.shardStatus = provider
  }

  /** Resolves when the manager's identify authority grants `shardId` its turn; rejects if `signal` aborts. */
  async waitForIdentify(shardId: number, signal?: AbortSignal): Promise<void> {
    if (!this.shards.includes(shardId)) {
      throw new ShardingError('NOT_MY_SHARD', `waitForIdentify(${shardId}): this instance runs shards ${this.shards.join(',')}`)
    }
    // No deadline: a turn may legitimately wait minutes (or for the parent to come back); the signal ends it.
    // A turn that reached this instance late is not used (see InstanceRuntime.identifyTurn).
    await this.runtime.identifyTurn(shardId, signal)
  }

  /**
   * Tells the manager that `shardId`'s IDENTIFY has been sent, right after sending it. Optional: the
   * next turn of the shard's key then comes a window plus `identify.sentMarginMs` after this call
   * instead of a window plus `identify.marginMs` after the grant (sooner, or later after a late send).
   * attach() does it for discord.js.
   */
  identifySent(shardId: number): void {
    if (this.shards.includes(shardId)) this.runtime.post(Ops.IDENTIFY_SENT, { shardId, sentAt: Date.now() })
  }

  /** An IIdentifyThrottler for discord.js (`ws.buildIdentifyThrottler: () => sharding.identifyThrottler()`). */
  identifyThrottler(): IdentifyThrottler {
    return { waitForIdentify: (shardId, signal) => this.waitForIdentify(shardId, signal) }
  }

  /** Stores a shard's session with the manager so a respawned instance can RESUME it (null = invalidated). */
  reportSession(shardId: number, session: SessionInfo | null): void {
    this.runtime.reportSession(shardId, session)
  }

  async broadcastEval<R = unknown, C = unknown>(fn: (client: any, context: C) => R | Promise<R>, options?: BroadcastOptions<C>): Promise<any> {
    if (typeof fn !== 'function') throw new TypeError('broadcastEval(fn): fn must be a function; pass data through options.context')
    const o = optionsArg(options, 'broadcastEval(fn, options)')
    const action = { type: 'eval', fn: fn.toString(), context: serializeValue(o.context) }
    return this.fanout(action, o)
  }

  /** `target` may also be a shard id, as in discord.js's `client.shard.fetchClientValues(prop, shard)`. */
  async fetchClientValues(prop: string, target?: number | Omit<BroadcastOptions, 'context'>): Promise<any> {
    if (typeof prop !== 'string' || prop.length === 0) throw new TypeError('fetchClientValues(prop): prop must be a dotted property path')
    return this.fanout({ type: 'fetch', prop }, targetArg(target, 'fetchClientValues(prop, target)'))
  }

  /** One-way message: to the manager (no target) or to the targeted instances' 'message' listeners. */
  async send(message: unknown, target?: TargetOptions & { timeout?: number; signal?: AbortSignal }): Promise<void> {
    target = optionsArg(target, 'send(message, target)')
    const to = hasSelector(target) ? toTarget(target, this.totalShards) : null
    await this.runtime.request('send', { message: serializeValue(message), target: to }, scopeOf(target))
  }

  /** Request with a reply: to the manager's 'request' event (no target) or to the targeted instances. */
  async request(message: unknown, target?: TargetOptions & { timeout?: number; allowPartial?: boolean; signal?: AbortSignal }): Promise<any> {
    target = optionsArg(target, 'request(message, target)')
    if (!hasSelector(target)) {
      return this.decode(await this.runtime.request('managerRequest', { message: serializeValue(message) }, scopeOf(target)))
    }
    return this.fanout({ type: 'request', message: serializeValue(message) }, target!)
  }

  private decode(value: unknown): unknown {
    return finishFanout([{ instance: -1, machine: 'manager', shards: [], ok: true, value }], { single: true, allowPartial: false })
  }

  private async fanout(action: Record<string, unknown>, options: BroadcastOptions): Promise<unknown> {
    const failFast = !options.allowPartial // the manager answers at the first failure (see allUnlessOneFails)
    const entries = (await this.runtime.request('broadcast', { action, target: toTarget(options, this.totalShards), failFast }, scopeOf(options))) as FanoutEntry[]
    return finishFanout(entries, { single: wantsSingle(options), allowPartial: Boolean(options.allowPartial) })
  }
}

/** One deadline for the whole call, from the caller's timeout; the manager's hops work to it. */
function scopeOf(options: { timeout?: number; signal?: AbortSignal } | undefined): { deadline: number; signal?: AbortSignal } {
  const timeout = options?.timeout ?? DEFAULT_TIMEOUT
  if (typeof timeout !== 'number' || !(timeout > 0)) throw new TypeError(`timeout: expected a number of ms > 0, got ${JSON.stringify(options?.timeout)}`)
  return { deadline: deadlineIn(timeout), signal: options?.signal }
}

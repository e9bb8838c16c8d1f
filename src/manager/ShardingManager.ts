/**
 * The one class users construct. It validates options, picks a backend for the mode (one machine,
 * MACHINES parent, MACHINES child in standby) and exposes the same API and events for all of them.
 */
import { EventEmitter } from 'node:events'
import { CONTEXT_ENV } from '../constants.js'
import { ShardingError } from '../errors.js'
import { finishFanout } from '../ipc/results.js'
import { hasSelector, toTarget, wantsSingle, type TargetOptions } from '../ipc/targets.js'
import { encodeValue } from '../ipc/values.js'
import type { Backend, ManagerStatus } from './backend.js'
import type { InstanceAction } from './instance.js'
import { LocalBackend } from './local-backend.js'
import { resolveOptions, type ResolvedOptions, type ShardingManagerOptions } from './options.js'
import { createMachinesBackend } from './machines-backend.js'

export interface BroadcastEvalOptions<C = unknown> extends TargetOptions {
  context?: C
  /** ms; default timeouts.request. */
  timeout?: number
  /** Return one entry per instance with its value or error instead of rejecting on the first failure. */
  allowPartial?: boolean
}

export class ShardingManager extends EventEmitter {
  readonly options: ResolvedOptions
  private readonly backend: Backend
  private started: Promise<this> | null = null
  private stopping: Promise<void> | null = null

  constructor(options: ShardingManagerOptions) {
    super()
    if (process.env[CONTEXT_ENV]) {
      throw new ShardingError(
        'SPAWN_LOOP',
        'a ShardingManager was constructed inside a shard instance; this would spawn managers recursively. Keep the manager in its own file that the client file never imports',
      )
    }
    this.options = resolveOptions(options)
    this.backend = this.options.mode === 'machines' ? createMachinesBackend(this.options, this.events) : new LocalBackend(this.options, this.events)
  }

  get mode(): string {
    return this.options.mode
  }

  /** The bot's total shard count (known after start() when it is 'auto'). */
  get totalShards(): number | null {
    return this.backend.totalShards
  }

  /** Starts every instance; resolves when every shard is ready (a MACHINES child: when it listens). */
  start(): Promise<this> {
    this.started ??= this.backend.start().then(() => this)
    return this.started
  }

  /** Stops everything gracefully (ask, wait timeouts.kill, kill); resolves when no instance is left. */
  stop(): Promise<void> {
    this.stopping ??= this.backend.stop()
    return this.stopping
  }

  async broadcastEval<R = unknown, C = unknown>(fn: (client: any, context: C) => R | Promise<R>, options: BroadcastEvalOptions<C> = {}): Promise<any> {
    if (typeof fn !== 'function') throw new TypeError('broadcastEval(fn): fn must be a function; pass data through options.context')
    return this.fanout({ type: 'eval', fn: fn.toString(), context: encodeValue(options.context) }, options)
  }

  async fetchClientValues(prop: string, options: Omit<BroadcastEvalOptions, 'context'> = {}): Promise<any> {
    if (typeof prop !== 'string' || prop.length === 0) throw new TypeError('fetchClientValues(prop): prop must be a dotted property path like "guilds.cache.size"')
    return this.fanout({ type: 'fetch', prop }, options)
  }

  /** One-way message to the targeted instances (all when no target): their ShardingClient 'message' event. */
  async send(message: unknown, target: TargetOptions = {}): Promise<void> {
    await this.fanout({ type: 'send', message: encodeValue(message), from: 'manager' }, target)
  }

  /** Request to the targeted instances (all when no target); resolves with their replies. */
  async request(message: unknown, target: TargetOptions & { timeout?: number; allowPartial?: boolean } = {}): Promise<any> {
    return this.fanout({ type: 'request', message: encodeValue(message), from: 'manager' }, target)
  }

  /** Restarts one instance gracefully (its shards RESUME); resolves when it is ready again. */
  respawn(instanceId: number): Promise<void> {
    return this.backend.respawn(instanceId)
  }

  /** Restarts every instance, one at a time, each only after the previous is ready again. */
  rollingRestart(): Promise<void> {
    return this.backend.rollingRestart()
  }

  /** Machines → instances → shards, with state, pid/thread, restarts, uptime, last heartbeat, memory. */
  status(): ManagerStatus {
    return this.backend.status()
  }

  private async fanout(action: InstanceAction, options: BroadcastEvalOptions): Promise<unknown> {
    const total = this.backend.totalShards
    if (total === null) throw new ShardingError('NOT_STARTED', 'the manager has not started; await manager.start() first')
    const target = hasSelector(options) ? toTarget(options, total) : {}
    const entries = await this.backend.fanout(action, target, options.timeout ?? this.options.timeouts.request)
    return finishFanout(entries, { single: wantsSingle(options), allowPartial: Boolean(options.allowPartial) })
  }

  /**
   * Events from the backends. An 'error' with no listener must not crash the manager (Node throws
   * on unhandled 'error' events), so it is printed instead.
   */
  private readonly events = {
    emitEvent: (name: string, ...args: unknown[]): void => {
      if (name === 'error' && this.listenerCount('error') === 0) {
        console.error('[discordoo-sharding]', (args[0] as Error)?.message ?? args[0])
        return
      }
      this.emit(name, ...args)
    },
    listenerCount: (name: string): number => this.listenerCount(name),
  }
}

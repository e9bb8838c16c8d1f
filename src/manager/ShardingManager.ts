/**
 * The one class users construct. It validates options, picks a backend for the mode (one machine,
 * MACHINES parent, MACHINES child in standby) and exposes the same API and events for all of them.
 */
import { EventEmitter } from 'node:events'
import { CONTEXT_ENV } from '../constants.js'
import { AbortedError, ShardingError } from '../errors.js'
import { createMetricsServer, MetricsRecorder, type MetricCounters, type MetricsServer } from '../metrics/index.js'
import { optionsArg, targetArg } from '../ipc/call-options.js'
import { finishFanout } from '../ipc/results.js'
import { hasSelector, toTarget, wantsSingle, type FanoutEntry, type TargetOptions } from '../ipc/targets.js'
import { serializeValue } from '../ipc/values.js'
import { deadlineIn, NO_DEADLINE } from '../rpc/deadline.js'
import type { CallScope } from '../rpc/endpoint.js'
import type { Backend, ManagerStatus } from './backend.js'
import type { InstanceAction } from './instance-channel.js'
import { LocalBackend } from './local-backend.js'
import { resolveOptions, type ResolvedOptions, type ShardingManagerOptions } from './options.js'
import type { ReshardOptions } from './reshard.js'
import { AutoReshard } from './auto-reshard.js'
import { createMachinesBackend } from '../machines/backend.js'

export interface BroadcastEvalOptions<C = unknown> extends TargetOptions {
  context?: C
  /** The call's deadline, ms from now; default timeouts.request. Every hop works to this one deadline. */
  timeout?: number
  /** Withdraws the call: it rejects with AbortedError and every hop stops waiting for it. */
  signal?: AbortSignal
  /** Return one entry per instance with its value or error instead of rejecting on the first failure. */
  allowPartial?: boolean
}

export interface OperationOptions {
  /** ms from now; default: none (a respawn ends when the instance is ready again or gives up). */
  timeout?: number
  signal?: AbortSignal
}

export class ShardingManager extends EventEmitter {
  readonly options: ResolvedOptions
  private readonly backend: Backend
  private started: Promise<this> | null = null
  private stopping: Promise<void> | null = null
  /** Request counts and latency by kind, restarts, link drops, re-shards, failovers (`/metrics`). */
  private readonly recorder = new MetricsRecorder()
  private metricsServer: MetricsServer | null = null
  private autoReshard: AutoReshard | null = null

  constructor(options: ShardingManagerOptions) {
    super()
    if (process.env[CONTEXT_ENV]) {
      throw new ShardingError(
        'SPAWN_LOOP',
        'a ShardingManager was constructed inside a shard instance; this would spawn managers recursively. Keep the manager in its own file that the client file never imports',
      )
    }
    this.options = resolveOptions(options)
    this.on('newListener', warnOnDiscordJsEvent)
    this.on('instanceRespawn', () => this.recorder.restart('crash'))
    this.on('machineDisconnect', (e: { machine: string }) => this.recorder.linkDrop(e.machine))
    this.on('reshardDone', () => this.recorder.reshard())
    this.on('machineFailover', () => this.recorder.failover())
    const root = this.options.machines?.me !== 'child'
    if (root && this.options.reshard.auto && this.options.token) {
      this.autoReshard = new AutoReshard(this, { api: this.options.api, token: this.options.token }, this.options.reshard.checkInterval)
    }
    this.backend = this.options.mode === 'machines' ? createMachinesBackend(this.options, this.events) : new LocalBackend(this.options, this.events)
  }

  get mode(): string {
    return this.options.mode
  }

  /** The bot's total shard count (known after start() when it is 'auto'). */
  get totalShards(): number | null {
    return this.backend.totalShards
  }

  /**
   * Starts every instance; resolves when every shard is ready (a MACHINES child: when it listens).
   * Rejects when an instance gives up, or with AbortedError when stop() is called first.
   */
  start(): Promise<this> {
    if (this.stopping) return Promise.reject(new AbortedError('the manager was stopped; construct a new ShardingManager to start again'))
    this.started ??= Promise.race([
      this.serveMetrics()
        .then(() => this.backend.start())
        .then(() => {
          this.autoReshard?.start()
          return this
        }),
      this.stopped.promise,
    ])
    return this.started
  }

  /**
   * discord.js's name for start(). Its options (`amount`, `delay`, `timeout`) have nothing to set here:
   * the shards come from the constructor, the identify queue paces every IDENTIFY, and
   * `timeouts.ready` watches each instance's progress.
   */
  spawn(_options?: { amount?: number | 'auto'; delay?: number; timeout?: number }): Promise<this> {
    return this.start()
  }

  /** What /metrics counts beyond status(): requests by kind (count, errors, latency), restarts, link drops, re-shards, failovers. */
  metrics(): MetricCounters {
    return this.recorder.counters()
  }

  /** Where /metrics, /healthz and /status are served (with the `metrics` option, after start()). */
  get metricsUrl(): string | null {
    return this.metricsServer?.url ?? null
  }

  /** Health shows 503 while the start is under way, so the server comes first. */
  private async serveMetrics(): Promise<void> {
    const m = this.options.metrics
    if (!m || this.options.machines?.me === 'child') return
    this.metricsServer = await createMetricsServer({ status: () => this.status(), counters: () => this.recorder.counters() }, m)
    this.emit('metricsListening', { url: this.metricsServer.url })
  }

  /** Stops everything gracefully (ask, wait timeouts.kill, kill); resolves when no instance is left. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopped.reject(new AbortedError('the manager was stopped before every shard was ready'))
      this.autoReshard?.stop()
      this.stopping = this.backend.stop().finally(() => this.metricsServer?.close())
    }
    return this.stopping
  }

  /** Rejects a start() that is still pending when stop() is called. */
  private readonly stopped = settleLater<never>()

  // broadcastEval, fetchClientValues and request are not `async` functions: one returning the
  // fan-out's promise made a second promise and two more microtask turns per call. Their mistakes
  // still reject (rejected()), as an async function's would.
  broadcastEval<R = unknown, C = unknown>(fn: (client: any, context: C) => R | Promise<R>, options?: BroadcastEvalOptions<C>): Promise<any> {
    try {
      if (typeof fn !== 'function') throw new TypeError('broadcastEval(fn): fn must be a function; pass data through options.context')
      const o = optionsArg(options, 'broadcastEval(fn, options)')
      return this.fanout({ type: 'eval', fn: fn.toString(), context: serializeValue(o.context) }, o)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** `target` may also be a shard id, as in discord.js: `fetchClientValues('guilds.cache.size', 0)` answers shard 0's instance. */
  fetchClientValues(prop: string, target?: number | Omit<BroadcastEvalOptions, 'context'>): Promise<any> {
    try {
      if (typeof prop !== 'string' || prop.length === 0) throw new TypeError('fetchClientValues(prop): prop must be a dotted property path like "guilds.cache.size"')
      return this.fanout({ type: 'fetch', prop }, targetArg(target, 'fetchClientValues(prop, target)'))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** One-way message to the targeted instances (all when no target): their ShardingClient 'message' event. */
  async send(message: unknown, target?: TargetOptions & { timeout?: number; signal?: AbortSignal }): Promise<void> {
    await this.fanout({ type: 'send', message: serializeValue(message), from: 'manager' }, optionsArg(target, 'send(message, target)'))
  }

  /** discord.js's name for `send(message)` to every instance. */
  async broadcast(message: unknown): Promise<void> {
    await this.send(message)
  }

  /** Request to the targeted instances (all when no target); resolves with their replies. */
  request(message: unknown, target?: TargetOptions & { timeout?: number; allowPartial?: boolean; signal?: AbortSignal }): Promise<any> {
    try {
      return this.fanout({ type: 'request', message: serializeValue(message), from: 'manager' }, optionsArg(target, 'request(message, target)'))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Restarts one instance gracefully (its shards RESUME); resolves when it is ready again. */
  respawn(instanceId: number, options: OperationOptions = {}): Promise<void> {
    this.recorder.restart('respawn')
    return this.recorder.track('respawn', () => this.backend.respawn(instanceId, operationScope(options)))
  }

  /** Restarts every instance, one at a time, each only after the previous is ready again. */
  rollingRestart(options: OperationOptions = {}): Promise<void> {
    return this.backend.rollingRestart(operationScope(options))
  }

  /**
   * discord.js's name for rollingRestart(). Its options (`shardDelay`, `respawnDelay`, `timeout` per
   * shard) have nothing to set here: each instance is ready again before the next one restarts.
   */
  respawnAll(_options?: { shardDelay?: number; respawnDelay?: number; timeout?: number }): Promise<void> {
    return this.rollingRestart()
  }

  /**
   * Re-shards without downtime: starts the new shard set beside the running one (paced by the same
   * identify authority), switches routing to it once every new shard is ready, then stops the old
   * set. Refused before anything starts when the daily identify budget cannot pay for the new set.
   * Events: reshardStart, reshardProgress { ready, total }, reshardDone, reshardFailed (the old set keeps running).
   */
  reshard(options: ReshardOptions = {}): Promise<void> {
    if (!this.backend.reshard) return Promise.reject(new ShardingError('NOT_ROOT', 'a MACHINES child is re-sharded by its parent; call reshard() on the parent'))
    return this.backend.reshard(options)
  }

  /** Machines → instances → shards, with state, pid/thread, restarts, uptime, last heartbeat, memory. */
  status(): ManagerStatus {
    return this.backend.status()
  }

  /**
   * One call on the targeted instances, recorded in the metrics. Written as one promise chain, not
   * nested async functions: each layer allocated its own promises on every call (BENCHMARKS.md).
   */
  private fanout(action: InstanceAction, options: BroadcastEvalOptions): Promise<unknown> {
    const total = this.backend.totalShards
    if (total === null) throw new ShardingError('NOT_STARTED', 'the manager has not started; await manager.start() first')
    const timeout = options.timeout ?? this.options.timeouts.request
    if (typeof timeout !== 'number' || !(timeout > 0)) throw new TypeError(`options.timeout: expected a number of ms > 0, got ${JSON.stringify(options.timeout)}`)
    const target = hasSelector(options) ? toTarget(options, total) : {}
    const scope: CallScope = { deadline: deadlineIn(timeout), signal: options.signal }
    const recorder = this.recorder
    const kind = action.type
    const t0 = recorder.start()
    let entries: Promise<FanoutEntry[]>
    try {
      entries = this.backend.fanout(action, target, scope, !options.allowPartial)
    } catch (err) {
      entries = Promise.reject(err)
    }
    return entries.then(
      (list) => {
        try {
          const value = finishFanout(list, { single: wantsSingle(options), allowPartial: Boolean(options.allowPartial) })
          recorder.finish(kind, t0)
          return value
        } catch (err) {
          recorder.fail(kind, t0, err)
          throw err
        }
      },
      (err: unknown) => {
        recorder.fail(kind, t0, err)
        throw err
      },
    )
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

/** discord.js's manager event, which nothing here emits: a listener for it would wait silently forever. */
function warnOnDiscordJsEvent(event: string | symbol): void {
  if (event !== 'shardCreate') return
  process.emitWarning("'shardCreate' is discord.js's ShardingManager event and is never emitted here; listen to 'instanceSpawn' (one per process or worker, with its shards)", {
    code: 'DISCORDOO_SHARDCREATE',
  })
}

function operationScope(options: OperationOptions): CallScope {
  return { deadline: options.timeout === undefined ? NO_DEADLINE : deadlineIn(options.timeout), signal: options.signal }
}

/** A promise settled from outside, that never counts as an unhandled rejection on its own. */
function settleLater<T>(): { promise: Promise<T>; reject(err: Error): void } {
  let reject!: (err: Error) => void
  const promise = new Promise<T>((_, rej) => (reject = rej))
  promise.catch(() => {})
  return { promise, reject }
}

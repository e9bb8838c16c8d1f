/**
 * One instance (a process or a worker running several shards) as the manager sees it: its
 * lifecycle. It waits for a start slot, spawns, becomes ready, is watched for hangs, stops
 * gracefully, and applies the restart policy when it dies. What travels over its channel lives in
 * InstanceChannel; every spawn gets a new channel and generation, so late events from a previous
 * child are ignored.
 */
import { AbortedError, InstanceDiedError, NotReadyError, ShardingError, TimeoutError } from '../errors.js'
import { Ops } from '../ipc/envelope.js'
import type { WireError } from '../ipc/values.js'
import type { ChildExit, ChildHandle, InstanceDriver } from '../modes/driver.js'
import { contextToEnv } from '../runtime/context.js'
import { PROTOCOL_VERSION } from '../constants.js'
import { settleInto, type CallScope, type CallSink } from '../rpc/endpoint.js'
import { monotonicNow } from '../util/clock.js'
import { exitReason, fatalCause } from './exit-cause.js'
import { InstanceChannel, type InstanceAction } from './instance-channel.js'
import type { InstanceHost } from './instance-host.js'
import { InstanceMonitor, type ShardView } from './instance-monitor.js'
import type { ResolvedOptions } from './options.js'
import { RestartPolicy } from './restart-policy.js'
import { describeShards } from './shard-plan.js'
import type { StartSlot } from './start-gate.js'

export type { InstanceAction } from './instance-channel.js'

export type InstanceState = 'idle' | 'queued' | 'starting' | 'ready' | 'stopping' | 'backoff' | 'stopped' | 'gaveUp' | 'fatal'

/** States in which an instance has, or will soon have, a process: the manager must stay alive. */
export const LIVE_STATES: ReadonlySet<InstanceState> = new Set(['queued', 'starting', 'ready', 'stopping', 'backoff'])

export interface InstanceSettings {
  driver: InstanceDriver
  file: string
  env: Record<string, string>
  execArgv: string[]
  /** PROCESSES mode: speed-only V8 flags the instance's runtime sets at start (InstanceContext.v8Flags). */
  v8Flags?: string[]
  args: string[]
  respawn: boolean
  restarts: ResolvedOptions['restarts']
  timeouts: ResolvedOptions['timeouts']
  /** Adapt unmodified discord.js bots in the instance (options.adaptDiscordJs; default true). */
  adaptDiscordJs?: boolean
  /** Hold V8's optimizer during the client file's imports (options.holdOptimizerDuringImports; src/runtime/optimizer-hold.ts). */
  holdOptimizer?: boolean
  /** WORKERS mode: V8's early optimization of small functions off while the worker runs (options.deferSmallFunctionOptimization). */
  deferSmallFunctionOptimization?: boolean
  /** PROCESSES mode: the manager's own young-generation growth factor while the pool runs (options.managerSemiSpaceGrowthFactor). */
  managerGrowthFactor?: number | null
  /** An identify turn that reaches the bot later than this is not used (InstanceContext.turnLimitMs). */
  turnLimitMs?: number
}

export interface InstanceInfo {
  id: number
  machine: string
  shards: number[]
  state: InstanceState
  pid: number | null
  threadId: number | null
  restarts: number
  uptime: number | null
  lastHeartbeat: number | null
  memory: { rss: number; heapUsed: number } | null
  shardStates: ShardView[]
}

type Waiter = { resolve(): void; reject(err: Error): void }

export class Instance {
  state: InstanceState = 'idle'
  restarts = 0
  private child: ChildHandle | null = null
  private channel: InstanceChannel | null = null
  private generation = 0
  private slot: StartSlot | null = null
  private startAbort: AbortController | null = null
  private backoffTimer: NodeJS.Timeout | null = null
  private readonly policy: RestartPolicy
  private readonly monitor: InstanceMonitor
  private readyWaiters: Waiter[] = []
  private stopWaiters: (() => void)[] = []
  private next: 'respawn' | 'stop' | null = null
  private lastCrash: WireError | null = null
  private fatalError: WireError | null = null
  /** discord.js reported a shard closed for good (its own error, when it comes, is more precise). */
  private djsFatalClose = false

  constructor(
    readonly id: number,
    readonly shards: number[],
    private readonly host: InstanceHost,
    private readonly settings: InstanceSettings,
    private readonly onStateChange: (instance: Instance) => void = () => {},
  ) {
    const r = settings.restarts
    this.policy = new RestartPolicy({ max: r.max, intervalMs: r.interval, baseDelayMs: r.baseDelay, maxDelayMs: r.maxDelay })
    this.monitor = new InstanceMonitor(this, settings.timeouts, {
      ping: () => this.channel?.post(Ops.HEARTBEAT, { t: Date.now() }),
      onHung: (ms) => this.failStart(new TimeoutError(`instance ${id} answered no heartbeat for ${ms} ms (event loop blocked?); restarting it`)),
      onNoProgress: (ms) =>
        this.failStart(
          new TimeoutError(
            `instance ${id} (shards ${describeShards(shards)}) made no start-up progress for ${ms} ms; does the client file log in a discord.js client or call sharding.ready()?`,
          ),
        ),
      shardEvent: (name, shardId, extra) => this.host.emitEvent(name, shardId, this.id, extra),
      markReady: () => this.markReady(),
    })
  }

  get machine(): string {
    return this.host.machineId
  }

  get running(): boolean {
    return this.channel !== null && (this.state === 'starting' || this.state === 'ready')
  }

  /** Requests in flight on the current channel (0 when none is open). */
  get inFlight(): { calls: number; serving: number; djs: number } {
    return this.channel?.inFlight ?? { calls: 0, serving: 0, djs: 0 }
  }

  /** Starts the instance (waiting for a start slot first). Returns at once; see whenReady(). */
  launch(): void {
    if (this.state === 'queued' || this.state === 'starting' || this.state === 'ready' || this.state === 'stopping') return
    this.policyResetIfTerminal()
    this.cancelBackoff()
    void this.queueAndSpawn()
  }

  /** Resolves at the next time the instance is ready (now, if it is); rejects if it gives up or stops. */
  whenReady(): Promise<void> {
    if (this.state === 'ready') return Promise.resolve()
    if (this.state === 'gaveUp' || this.state === 'fatal' || this.state === 'stopped') {
      return Promise.reject(new ShardingError('INSTANCE_DOWN', `instance ${this.id} is ${this.state}`))
    }
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }))
  }

  /**
   * Graceful stop for good: ask, wait the kill timeout, then kill. `resumable` leaves the gateway
   * sessions open for another instance to RESUME (a fenced machine whose shards move to a spare).
   */
  stop(resumable = false): Promise<void> {
    return this.terminate('stop', resumable)
  }

  /**
   * Graceful restart that keeps sessions resumable; resolves when the new instance is ready. An
   * instance that is not running yet (queued behind the start gate, or in backoff) is started now
   * or keeps its place in the queue.
   */
  async respawn(): Promise<void> {
    if (this.child) await this.terminate('respawn', true)
    else this.launch()
    return this.whenReady()
  }

  /**
   * Runs an action; resolves with a serialized value. An instance that is starting (spawned, its
   * client file maybe not loaded yet) is waited for within the call's deadline; one that cannot
   * answer (queued, dead, stopped) is refused at once with what is true.
   */
  run(action: InstanceAction, scope: CallScope): Promise<unknown> {
    if (this.state === 'ready' && this.channel) return this.channel.run(action, scope)
    if (this.state === 'starting') return this.untilReady(scope).then(() => this.run(action, scope))
    return Promise.reject(this.notRunningError())
  }

  /** `run`, its outcome given to `sink` (a fan-out's part; src/manager/instance-pool.ts). */
  runInto(action: InstanceAction, scope: CallScope, sink: CallSink, tag: number): void {
    if (this.state === 'ready' && this.channel) this.channel.runInto(action, scope, sink, tag)
    else settleInto(this.run(action, scope), sink, tag)
  }

  /** Waits for ready within the scope; NOT_READY when the deadline comes first. */
  private untilReady(scope: CallScope): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve: () => done(null), reject: (err) => done(new InstanceDiedError(this.id, `instance ${this.id} did not become ready: ${err.message}`)) }
      const timer =
        scope.deadline === Infinity
          ? null
          : setTimeout(() => done(new NotReadyError(this.id, `instance ${this.id} is still starting (its shards are not all ready yet)`)), Math.max(0, scope.deadline - monotonicNow()))
      timer?.unref()
      const onAbort = () => done(new AbortedError('the call was cancelled while the instance was starting'))
      scope.signal?.addEventListener('abort', onAbort, { once: true })
      const done = (err: Error | null) => {
        const i = this.readyWaiters.indexOf(waiter)
        if (i >= 0) this.readyWaiters.splice(i, 1)
        if (timer) clearTimeout(timer)
        scope.signal?.removeEventListener('abort', onAbort)
        if (err) reject(err)
        else resolve()
      }
      this.readyWaiters.push(waiter)
    })
  }

  /** Tells a running instance whether its shard set serves the bot (a re-shard switched sets). */
  setActive(active: boolean): void {
    this.channel?.post(Ops.ACTIVE, { active })
  }

  info(): InstanceInfo {
    return {
      id: this.id,
      machine: this.machine,
      shards: [...this.shards],
      state: this.state,
      pid: this.child?.pid ?? null,
      threadId: this.child?.threadId ?? null,
      restarts: this.restarts,
      ...this.monitor.snapshot(),
    }
  }

  /** Says what is true about an instance that cannot answer now. */
  private notRunningError(): Error {
    switch (this.state) {
      case 'idle':
      case 'queued':
        return new NotReadyError(this.id, `instance ${this.id} has not started yet (${this.state}): shards are still being spawned; retry after the manager is ready, or use allowPartial`)
      case 'backoff':
        return new InstanceDiedError(this.id, `instance ${this.id} died and is waiting to restart (backoff)`)
      default:
        return new InstanceDiedError(this.id, `instance ${this.id} is ${this.state}`)
    }
  }

  private setState(state: InstanceState): void {
    if (this.state === state) return
    this.state = state
    this.onStateChange(this)
  }

  private async queueAndSpawn(): Promise<void> {
    const gen = ++this.generation
    this.setState('queued')
    this.next = null
    const abort = new AbortController()
    this.startAbort = abort
    try {
      this.slot = await this.host.root.acquireStart(`instance ${this.id}`, this.shards, abort.signal)
    } catch (err) {
      if (abort.signal.aborted || gen !== this.generation) return // stopped or restarted while it waited
      // The start gate could not be asked (a MACHINES parent that refused): a failed start.
      this.host.emitEvent('error', new ShardingError('START_SLOT', `instance ${this.id} could not get a start slot: ${(err as Error).message}`, { cause: err }))
      return this.onExit(gen, { code: null, signal: null, error: err as Error })
    } finally {
      if (this.startAbort === abort) this.startAbort = null
    }
    if (gen !== this.generation) return this.releaseSlot('failed')
    this.spawn(gen)
  }

  private spawn(gen: number): void {
    const env = {
      ...this.settings.env,
      ...contextToEnv({
        v: PROTOCOL_VERSION,
        instanceId: this.id,
        machineId: this.host.machineId,
        mode: this.settings.driver.mode,
        shards: this.shards,
        totalShards: this.host.totalShards,
        file: this.settings.file,
        sessions: this.host.root.sessionsFor(this.shards, this.host.totalShards),
        active: this.host.active,
        adaptDiscordJs: this.settings.adaptDiscordJs ?? true,
        gateway: this.host.root.gatewayHandOver?.() ?? undefined,
        turnLimitMs: this.settings.turnLimitMs,
        // (a worker's hold is taken by its driver instead: SpawnSpec.holdOptimizer)
        ...(this.settings.holdOptimizer && this.settings.driver.mode === 'processes' ? { holdOptimizer: true } : {}),
        ...(this.settings.v8Flags?.length ? { v8Flags: this.settings.v8Flags } : {}),
      }),
    }
    this.lastCrash = null
    this.fatalError = null
    this.djsFatalClose = false
    let child: ChildHandle
    try {
      child = this.settings.driver.spawn({ file: this.settings.file, env, execArgv: this.settings.execArgv, args: this.settings.args, holdOptimizer: this.settings.holdOptimizer, deferSmallFunctionOptimization: this.settings.deferSmallFunctionOptimization })
    } catch (err) {
      this.host.emitEvent('error', new ShardingError('SPAWN_FAILED', `instance ${this.id} could not be spawned: ${(err as Error).message}`, { cause: err }))
      return this.onExit(gen, { code: null, signal: null, error: err as Error })
    }
    const channel = new InstanceChannel({ instance: this.id, machine: this.machine, shards: this.shards }, child, this.host, this.reportsFor(gen))
    this.child = child
    this.channel = channel
    this.setState('starting')
    child.onMessage((msg) => {
      if (gen === this.generation) channel.onMessage(msg)
    })
    child.onExit((exit) => this.onExit(gen, exit))
    this.monitor.started(this.shards)
    this.host.emitEvent('instanceSpawn', this.info())
    this.host.emitEvent('debug', `instance ${this.id} spawned (pid ${child.pid}${child.threadId !== null ? `, thread ${child.threadId}` : ''}) for shards ${describeShards(this.shards)}`)
  }

  /** What this spawn's channel reports; ignored once a newer spawn exists. */
  private reportsFor(gen: number) {
    const current = () => gen === this.generation
    return {
      hello: () => {
        if (!current()) return
        // First heartbeat right away, so status() has memory figures from the start.
        this.channel?.post(Ops.HEARTBEAT, { t: Date.now() })
        this.monitor.progress()
      },
      ready: () => current() && this.markReady(),
      shard: (shardId: number, state: string, code?: number) => current() && this.monitor.shardEvent(shardId, state, code),
      inferredShard: (state: 'ready' | 'disconnected' | 'reconnecting' | 'resumed') => {
        if (!current()) return
        this.monitor.inferredShardEvent(state)
        // discord.js v14 reports `_disconnect` only for closes it never recovers from (4004, 4010-4014).
        // After one its login() can hang until the process exits with code 13, which looks like a
        // crash: stop the instance for good now, as attach() does for opted-in bots.
        if (state === 'disconnected') {
          this.djsFatalClose = true
          void this.terminate('stop', false)
        }
      },
      heartbeatAck: (d: unknown) => current() && this.monitor.ack(d as never),
      crash: (error: WireError) => {
        if (current()) this.lastCrash = error
      },
      fatal: (error: WireError) => {
        if (!current()) return
        this.fatalError = error
        void this.terminate('stop', false)
      },
      identifyWaiting: (count: number) => {
        if (!current()) return
        // Waiting in the identify queue is not the instance's fault: no start-up timeout meanwhile.
        if (count > 0) this.monitor.pauseProgress()
        else this.monitor.progress()
      },
    }
  }

  private markReady(): void {
    if (this.state !== 'starting') return
    this.setState('ready')
    this.child?.booted?.()
    this.monitor.ready()
    if (this.channel?.identifyRequests === 0) this.host.root.noteIdentifies('uncoordinated', this.shards)
    this.releaseSlot('ready')
    this.host.emitEvent('instanceReady', this.info())
    for (const w of this.readyWaiters.splice(0)) w.resolve()
  }

  /** Start-up or liveness failure: report it and kill; the exit path applies the restart policy. */
  private failStart(err: Error): void {
    this.host.emitEvent('error', err)
    this.child?.kill()
  }

  private terminate(next: 'stop' | 'respawn', resumable: boolean): Promise<void> {
    this.next = next
    if (!this.child) {
      this.cancelPending()
      if (next === 'stop') this.finish('stopped')
      return Promise.resolve()
    }
    const done = new Promise<void>((resolve) => this.stopWaiters.push(resolve))
    if (this.state !== 'stopping') {
      this.setState('stopping')
      this.channel?.post(Ops.SHUTDOWN, { resumable })
      const child = this.child
      const timer = setTimeout(() => child.kill(), this.settings.timeouts.kill)
      timer.unref()
      this.stopWaiters.push(() => clearTimeout(timer))
    }
    return done
  }

  private onExit(gen: number, exit: ChildExit): void {
    if (gen !== this.generation) return
    const stopping = this.state === 'stopping'
    this.child = null
    this.channel?.close(new InstanceDiedError(this.id))
    this.channel = null
    this.monitor.stopped()
    this.releaseSlot('failed')
    const reason = exitReason(exit, this.lastCrash, stopping)
    this.host.emitEvent('instanceDeath', { ...this.info(), code: exit.code, signal: exit.signal, reason })
    for (const w of this.stopWaiters.splice(0)) w()

    const fatal = fatalCause(exit, { reported: this.fatalError, lastCrash: this.lastCrash, djsFatalClose: this.djsFatalClose })
    if (this.next === 'stop' && !fatal) return this.finish('stopped')
    if (this.next === 'respawn') {
      this.next = null
      this.setState('idle')
      return this.launch()
    }
    if (fatal) {
      const err = new ShardingError('FATAL', `instance ${this.id} stopped for good: ${fatal.message} (a restart cannot fix this; check token, intents and shard count)`)
      this.host.emitEvent('error', err)
      this.host.emitEvent('instanceGaveUp', { ...this.info(), reason: 'fatal', error: err })
      return this.finish('fatal', err)
    }
    if (!stopping && reason !== 'exited') this.host.emitEvent('error', new ShardingError('INSTANCE_CRASHED', `instance ${this.id} died: ${reason}`))
    if (!this.settings.respawn) return this.finish('stopped')
    const decision = this.policy.next(monotonicNow())
    if (decision.giveUp) {
      const err = new ShardingError('GAVE_UP', `instance ${this.id} died ${decision.restarts} times within ${this.settings.restarts.interval} ms; not restarting it (restarts.max)`)
      this.host.emitEvent('error', err)
      this.host.emitEvent('instanceGaveUp', { ...this.info(), reason: 'restarts', error: err })
      return this.finish('gaveUp', err)
    }
    this.setState('backoff')
    this.host.emitEvent('debug', `instance ${this.id} restarts in ${decision.delayMs} ms (attempt ${decision.attempt})`)
    // Not unref'd: a pending restart must keep a user's script alive (the pool holds it too).
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null
      this.restarts++
      this.setState('idle')
      this.host.emitEvent('instanceRespawn', this.info())
      this.launch()
    }, decision.delayMs)
  }

  private finish(state: 'stopped' | 'gaveUp' | 'fatal', err?: Error): void {
    this.next = null
    this.setState(state)
    const e = err ?? new ShardingError('INSTANCE_DOWN', `instance ${this.id} was stopped`)
    for (const w of this.readyWaiters.splice(0)) w.reject(e)
  }

  /** Withdraws a start that has not spawned yet (queued or in backoff). */
  private cancelPending(): void {
    this.startAbort?.abort()
    this.startAbort = null
    this.cancelBackoff()
    this.generation++
    if (this.state === 'queued' || this.state === 'backoff') this.setState('idle')
  }

  private cancelBackoff(): void {
    if (this.backoffTimer) clearTimeout(this.backoffTimer)
    this.backoffTimer = null
  }

  private releaseSlot(outcome: 'ready' | 'failed'): void {
    if (!this.slot) return
    this.host.root.releaseStart(this.slot, outcome)
    this.slot = null
  }

  private policyResetIfTerminal(): void {
    if (this.state === 'gaveUp' || this.state === 'fatal' || this.state === 'stopped') this.policy.reset()
  }
}

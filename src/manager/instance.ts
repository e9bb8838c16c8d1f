/**
 * One instance (a process or a worker running several shards) as the manager sees it: spawn,
 * readiness, heartbeats, graceful stop, and the restart policy when it dies. Every spawn gets a
 * new generation number so late events from a previous child are ignored.
 */
import { InstanceDiedError, RemoteError, ShardingError, TimeoutError } from '../errors.js'
import { envelope, isDiscordJsMessage, isEnvelope, Ops, type Envelope, type Outcome } from '../ipc/envelope.js'
import { RequestTracker } from '../ipc/requests.js'
import { toWireError, type WireError } from '../ipc/values.js'
import type { ChildExit, ChildHandle, InstanceDriver } from '../modes/driver.js'
import { contextToEnv, type SessionInfo } from '../runtime/context.js'
import { PROTOCOL_VERSION } from '../constants.js'
import { exitReason, fatalCause } from './exit-cause.js'
import { DjsBridge, djsScript } from './djs-bridge.js'
import type { InstanceHost } from './instance-host.js'
import type { ResolvedOptions } from './options.js'
import { RestartPolicy } from './restart-policy.js'
import { describeShards } from './shard-plan.js'
import type { StartSlot } from './start-gate.js'
import { InstanceMonitor, type ShardView } from './instance-monitor.js'

export type InstanceState = 'idle' | 'queued' | 'starting' | 'ready' | 'stopping' | 'backoff' | 'stopped' | 'gaveUp' | 'fatal'

export interface InstanceSettings {
  driver: InstanceDriver
  file: string
  env: Record<string, string>
  execArgv: string[]
  args: string[]
  respawn: boolean
  restarts: ResolvedOptions['restarts']
  timeouts: ResolvedOptions['timeouts']
}

/** An action run on one instance: what broadcastEval / fetchClientValues / request / send become. */
export type InstanceAction =
  | { type: 'eval'; fn: string; context: unknown }
  | { type: 'script'; script: string }
  | { type: 'fetch'; prop: string }
  | { type: 'request'; message: unknown; from?: unknown }
  | { type: 'send'; message: unknown; from?: unknown }

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
  private generation = 0
  private slot: StartSlot | null = null
  private startAbort: AbortController | null = null
  private backoffTimer: NodeJS.Timeout | null = null
  private readonly policy: RestartPolicy
  private readonly requests = new RequestTracker<Outcome>()
  private readonly identifies = new Map<number, AbortController>()
  private readonly djs: DjsBridge
  private readonly monitor: InstanceMonitor
  private readyWaiters: Waiter[] = []
  private stopWaiters: (() => void)[] = []
  private next: 'respawn' | 'stop' | null = null
  private clientKind: 'none' | 'sharding' | 'bot' = 'none'
  private identifyRequests = 0
  private lastCrash: WireError | null = null
  private fatalError: WireError | null = null
  /** discord.js reported a shard closed for good (its own error, when it comes, is more precise). */
  private djsFatalClose = false

  constructor(
    readonly id: number,
    readonly shards: number[],
    private readonly host: InstanceHost,
    private readonly settings: InstanceSettings,
  ) {
    const r = settings.restarts
    this.policy = new RestartPolicy({ max: r.max, intervalMs: r.interval, baseDelayMs: r.baseDelay, maxDelayMs: r.maxDelay })
    this.djs = new DjsBridge({
      id,
      send: (msg) => this.child?.send(msg) ?? false,
      // A bot that attached reports shards by id; discord.js's id-less reports are only used otherwise.
      shardEvent: (state) => {
        if (this.clientKind === 'bot') return
        this.monitor.inferredShardEvent(state)
        // discord.js v14 reports `_disconnect` only for closes it never recovers from (4004, 4010-4014).
        // After one its login() can hang until the process exits with code 13, which looks like a
        // crash: stop the instance for good now, as attach() does for opted-in bots.
        if (state === 'disconnected') {
          this.djsFatalClose = true
          void this.terminate('stop', false)
        }
      },
      broadcast: (action, shard) => this.host.handleInstanceRequest(this, 'djsBroadcast', { action, shard }),
      respawnAll: () => void this.host.handleInstanceRequest(this, 'respawnAll', {}).catch(() => {}),
    })
    this.monitor = new InstanceMonitor(this, settings.timeouts, {
      ping: () => this.post(Ops.HEARTBEAT, { t: Date.now() }),
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
    return this.child !== null && (this.state === 'starting' || this.state === 'ready')
  }

  /** Starts the instance (waiting for a start slot first). Resolves once spawned, not when ready. */
  launch(): void {
    if (this.state === 'queued' || this.state === 'starting' || this.state === 'ready') return
    this.policyResetIfTerminal()
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

  /** Graceful stop for good: ask, wait the kill timeout, then kill. */
  stop(): Promise<void> {
    return this.terminate('stop', false)
  }

  /** Graceful restart that keeps sessions resumable; resolves when the new instance is ready. */
  async respawn(): Promise<void> {
    if (!this.child) {
      this.policyResetIfTerminal()
      this.cancelPending()
      this.launch()
      return this.whenReady()
    }
    await this.terminate('respawn', true)
    return this.whenReady()
  }

  /** Runs an action; resolves with an encoded value. Rejects at once if the instance is not running. */
  run(action: InstanceAction, timeoutMs: number): Promise<unknown> {
    if (!this.running) return Promise.reject(new InstanceDiedError(this.id, `instance ${this.id} is not running (${this.state})`))
    const viaDiscordJs = this.clientKind !== 'bot' && this.djs.seen
    switch (action.type) {
      case 'eval':
        return viaDiscordJs ? this.djs.evalScript(djsScript(action.fn, action.context), timeoutMs) : this.request(action, timeoutMs)
      case 'script':
        return viaDiscordJs ? this.djs.evalScript(action.script, timeoutMs) : this.request(action, timeoutMs)
      case 'fetch':
        return viaDiscordJs ? this.djs.fetchProp(action.prop, timeoutMs) : this.request(action, timeoutMs)
      case 'request':
        return this.request(action, timeoutMs)
      case 'send':
        // A bot without ShardingClient only has process.on('message'): give it the raw message.
        if (this.clientKind === 'none') this.child!.send(action.message)
        else this.post(Ops.MESSAGE, { message: action.message, from: action.from ?? 'manager' })
        return Promise.resolve(undefined)
    }
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

  private async request(action: Exclude<InstanceAction, { type: 'send' }>, timeoutMs: number): Promise<unknown> {
    const { type, ...rest } = action
    const { id, promise } = this.requests.create({ timeoutMs, describe: `${type} on instance ${this.id}` })
    this.post(Ops.REQUEST, { kind: type, ...rest }, id)
    const outcome = await promise
    if (!outcome.ok) throw new RemoteError(outcome.error.name, outcome.error.message, outcome.error.stack, outcome.error.code)
    return outcome.value
  }

  private post(op: Envelope['op'], d?: unknown, id?: number): void {
    this.child?.send(envelope(op, d, id))
  }

  private async queueAndSpawn(): Promise<void> {
    const gen = ++this.generation
    this.state = 'queued'
    this.next = null
    const abort = new AbortController()
    this.startAbort = abort
    try {
      this.slot = await this.host.acquireStart(`instance ${this.id}`, abort.signal)
    } catch {
      return // cancelled: the instance was stopped while it waited
    }
    if (gen !== this.generation) return this.releaseSlot('failed')
    this.spawn(gen)
  }

  private spawn(gen: number): void {
    const sessions: Record<number, SessionInfo> = this.host.sessionsFor(this.shards)
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
        sessions,
      }),
    }
    this.clientKind = 'none'
    this.djs.seen = false
    this.identifyRequests = 0
    this.lastCrash = null
    this.fatalError = null
    this.djsFatalClose = false
    let child: ChildHandle
    try {
      child = this.settings.driver.spawn({ file: this.settings.file, env, execArgv: this.settings.execArgv, args: this.settings.args })
    } catch (err) {
      this.host.emitEvent('error', new ShardingError('SPAWN_FAILED', `instance ${this.id} could not be spawned: ${(err as Error).message}`, { cause: err }))
      return this.onExit(gen, { code: null, signal: null, error: err as Error })
    }
    this.child = child
    this.state = 'starting'
    child.onMessage((msg) => {
      if (gen === this.generation) this.onMessage(msg)
    })
    child.onExit((exit) => this.onExit(gen, exit))
    this.monitor.started(this.shards)
    this.host.emitEvent('instanceSpawn', this.info())
    this.host.emitEvent('debug', `instance ${this.id} spawned (pid ${child.pid}${child.threadId !== null ? `, thread ${child.threadId}` : ''}) for shards ${describeShards(this.shards)}`)
  }

  private onMessage(msg: unknown): void {
    if (!isEnvelope(msg)) {
      if (isDiscordJsMessage(msg) && this.djs.handle(msg)) return
      return this.host.handleRawMessage(this, msg)
    }
    const d = (msg.d ?? {}) as Record<string, unknown>
    switch (msg.op) {
      case Ops.HELLO:
        // First heartbeat right away, so status() has memory figures from the start.
        this.post(Ops.HEARTBEAT, { t: Date.now() })
        return this.monitor.progress()
      case Ops.ATTACHED:
        this.clientKind = d.target === 'bot' ? 'bot' : this.clientKind === 'bot' ? 'bot' : 'sharding'
        return
      case Ops.READY:
        return this.markReady()
      case Ops.SHARD:
        return this.monitor.shardEvent(d.shardId as number, d.state as string, d.code as number | undefined)
      case Ops.SESSION:
        if (this.shards.includes(d.shardId as number)) this.host.updateSession(d.shardId as number, d.session as SessionInfo | null)
        return
      case Ops.HEARTBEAT_ACK:
        return this.monitor.ack(d as never)
      case Ops.CRASH:
        this.lastCrash = d.error as WireError
        return
      case Ops.FATAL:
        this.fatalError = d.error as WireError
        void this.terminate('stop', false)
        return
      case Ops.RESPONSE:
        this.requests.resolve(msg.id!, msg.d as Outcome)
        return
      case Ops.REQUEST:
        return void this.answer(msg.id!, d)
      case Ops.CANCEL:
        this.identifies.get(msg.id!)?.abort()
        return
    }
  }

  private async answer(id: number, d: Record<string, unknown>): Promise<void> {
    let outcome: Outcome
    try {
      const value = d.kind === 'identify' ? await this.grantIdentify(id, d.shardId as number) : await this.host.handleInstanceRequest(this, d.kind as string, d)
      outcome = { ok: true, value }
    } catch (err) {
      outcome = { ok: false, error: toWireError(err) }
    }
    this.post(Ops.RESPONSE, outcome, id)
  }

  private async grantIdentify(requestId: number, shardId: number): Promise<null> {
    if (!this.shards.includes(shardId)) {
      throw new ShardingError('NOT_MY_SHARD', `instance ${this.id} asked to identify shard ${shardId}, which it does not run`)
    }
    this.identifyRequests++
    this.host.noteCoordinatedIdentify()
    const abort = new AbortController()
    this.identifies.set(requestId, abort)
    // Waiting in the identify queue is not the instance's fault: no start-up timeout meanwhile.
    this.monitor.pauseProgress()
    try {
      await this.host.identify(shardId, abort.signal)
      this.host.emitEvent('debug', `shard ${shardId} (instance ${this.id}) may identify`)
      return null
    } finally {
      this.identifies.delete(requestId)
      if (this.identifies.size === 0) this.monitor.progress()
    }
  }

  private markReady(): void {
    if (this.state !== 'starting') return
    this.state = 'ready'
    this.monitor.ready()
    if (this.identifyRequests === 0) this.host.noteUncoordinatedIdentifies(this.shards)
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
      this.state = 'stopping'
      this.post(Ops.SHUTDOWN, { resumable })
      const child = this.child
      const timer = setTimeout(() => child.kill(), this.settings.timeouts.kill)
      timer.unref()
      this.stopWaiters.push(() => clearTimeout(timer))
    }
    return done
  }

  private onExit(gen: number, exit: ChildExit): void {
    if (gen !== this.generation) return
    this.child = null
    this.monitor.stopped()
    const died = new InstanceDiedError(this.id)
    this.requests.rejectAll(() => died)
    this.djs.rejectAll(died)
    for (const abort of this.identifies.values()) abort.abort()
    this.identifies.clear()
    this.releaseSlot('failed')
    const reason = exitReason(exit, this.lastCrash, this.state === 'stopping')
    this.host.emitEvent('instanceDeath', { ...this.info(), code: exit.code, signal: exit.signal, reason })
    for (const w of this.stopWaiters.splice(0)) w()

    const fatal = fatalCause(exit, { reported: this.fatalError, lastCrash: this.lastCrash, djsFatalClose: this.djsFatalClose })
    if (this.next === 'stop' && !fatal) return this.finish('stopped')
    if (this.next === 'respawn') {
      this.next = null
      return this.launch()
    }
    if (fatal) {
      const err = new ShardingError('FATAL', `instance ${this.id} stopped for good: ${fatal.message} (a restart cannot fix this; check token, intents and shard count)`)
      this.host.emitEvent('error', err)
      this.host.emitEvent('instanceGaveUp', { ...this.info(), reason: 'fatal', error: err })
      return this.finish('fatal', err)
    }
    if (this.state !== 'stopping' && reason !== 'exited') this.host.emitEvent('error', new ShardingError('INSTANCE_CRASHED', `instance ${this.id} died: ${reason}`))
    if (!this.settings.respawn) return this.finish('stopped')
    const decision = this.policy.next(Date.now())
    if (decision.giveUp) {
      const err = new ShardingError('GAVE_UP', `instance ${this.id} died ${decision.restarts} times within ${this.settings.restarts.interval} ms; not restarting it (restarts.max)`)
      this.host.emitEvent('error', err)
      this.host.emitEvent('instanceGaveUp', { ...this.info(), reason: 'restarts', error: err })
      return this.finish('gaveUp', err)
    }
    this.state = 'backoff'
    this.host.emitEvent('debug', `instance ${this.id} restarts in ${decision.delayMs} ms (attempt ${decision.attempt})`)
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null
      this.restarts++
      this.host.emitEvent('instanceRespawn', this.info())
      this.launch()
    }, decision.delayMs)
  }

  private finish(state: 'stopped' | 'gaveUp' | 'fatal', err?: Error): void {
    this.state = state
    this.next = null
    const e = err ?? new ShardingError('INSTANCE_DOWN', `instance ${this.id} was stopped`)
    for (const w of this.readyWaiters.splice(0)) w.reject(e)
  }

  private cancelPending(): void {
    this.startAbort?.abort()
    this.startAbort = null
    if (this.backoffTimer) clearTimeout(this.backoffTimer)
    this.backoffTimer = null
    this.generation++
  }

  private releaseSlot(outcome: 'ready' | 'failed'): void {
    if (!this.slot) return
    this.host.releaseStart(this.slot, outcome)
    this.slot = null
  }

  private policyResetIfTerminal(): void {
    if (this.state === 'gaveUp' || this.state === 'fatal' || this.state === 'stopped') this.policy.reset()
  }
}

/**
 * PROCESSES / WORKERS mode on one machine: the manager owns the authority and drives its
 * instances directly.
 */
import type { InstanceDriver } from '../modes/driver.js'
import { ProcessDriver } from '../modes/processes.js'
import { WorkerDriver } from '../modes/workers.js'
import type { SessionInfo } from '../runtime/context.js'
import { Authority, resolveLayout } from './authority.js'
import type { Backend, ManagerStatus } from './backend.js'
import { answerBotRequest, type Origin } from './bot-requests.js'
import type { Instance, InstanceSettings } from './instance.js'
import type { InstanceHost } from './instance-host.js'
import { InstancePool } from './instance-pool.js'
import type { ResolvedOptions } from './options.js'
import { planInstances } from './shard-plan.js'
import { PoolBackend } from './pool-backend.js'
import type { StartSlot } from './start-gate.js'

export interface ManagerEvents {
  emitEvent(name: string, ...args: unknown[]): void
  listenerCount(name: string): number
}

export function driverFor(mode: 'processes' | 'workers'): InstanceDriver {
  return mode === 'workers' ? new WorkerDriver() : new ProcessDriver()
}

export function instanceSettings(opts: ResolvedOptions, driver: InstanceDriver, file: string): InstanceSettings {
  const env = { ...opts.env }
  if (opts.passToken && opts.token) env.DISCORD_TOKEN = opts.token
  return { driver, file, env, execArgv: opts.execArgv, args: opts.args, respawn: opts.respawn, restarts: opts.restarts, timeouts: opts.timeouts }
}

export class LocalBackend extends PoolBackend implements Backend, InstanceHost {
  readonly machineId = 'local'
  totalShards = 0
  private authority: Authority | null = null
  private pool: InstancePool | null = null
  private isReady = false

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly events: ManagerEvents,
  ) {
    super()
  }

  async start(): Promise<void> {
    const layout = await resolveLayout(this.opts, null, this.emitEvent)
    this.totalShards = layout.totalShards
    this.authority = new Authority(this.opts, layout, this.emitEvent)
    const driver = driverFor(this.opts.mode as 'processes' | 'workers')
    this.pool = new InstancePool(this, instanceSettings(this.opts, driver, this.opts.file!), planInstances(layout.shards, this.opts.shardsPerInstance))
    await this.pool.startAll()
    this.isReady = true
    this.emitEvent('ready')
  }

  async stop(): Promise<void> {
    this.authority?.close()
    await this.pool?.stopAll()
  }

  status(): ManagerStatus {
    return {
      mode: this.opts.mode,
      role: 'local',
      totalShards: this.totalShards || null,
      ready: this.isReady,
      identify: this.authority ? this.authority.stats(this.opts.identify.strategy) : null,
      machines: [{ id: this.machineId, state: 'up', instances: this.pool?.status() ?? [] }],
    }
  }

  // InstanceHost: this manager is the root, so it answers everything itself.
  identify(shardId: number, signal: AbortSignal): Promise<void> {
    return this.authority!.identify(shardId, signal)
  }
  acquireStart(holder: string, signal: AbortSignal): Promise<StartSlot> {
    return this.authority!.acquireStart(holder, signal)
  }
  releaseStart(slot: StartSlot, outcome: 'ready' | 'failed'): void {
    this.authority?.releaseStart(slot, outcome)
  }
  noteCoordinatedIdentify(): void {
    this.authority?.noteCoordinatedIdentify()
  }
  noteUncoordinatedIdentifies(shards: number[]): void {
    this.authority?.noteUncoordinatedIdentifies(shards)
  }
  sessionsFor(shards: number[]): Record<number, SessionInfo> {
    return this.authority?.sessionsFor(shards, this.totalShards) ?? {}
  }
  updateSession(shardId: number, session: SessionInfo | null): void {
    this.authority?.sessions.update(shardId, session)
  }
  handleInstanceRequest(from: Instance, kind: string, data: Record<string, unknown>): Promise<unknown> {
    const origin: Origin = { instance: from.id, machine: from.machine, shards: [...from.shards] }
    return answerBotRequest(
      {
        fanout: (a, t, ms) => this.fanout(a, t, ms),
        rollingRestart: () => this.rollingRestart(),
        emitEvent: this.emitEvent,
        listenerCount: (e) => this.events.listenerCount(e),
        defaultTimeout: this.opts.timeouts.request,
      },
      origin,
      kind,
      data,
    )
  }
  handleRawMessage(from: Instance, message: unknown): void {
    this.emitEvent('message', message, { instance: from.id, machine: from.machine, shards: [...from.shards] })
  }
  readonly emitEvent = (name: string, ...args: unknown[]): void => this.events.emitEvent(name, ...args)

  protected requirePool(): InstancePool {
    if (!this.pool) throw new Error('the manager is not started; call manager.start() first')
    return this.pool
  }
}

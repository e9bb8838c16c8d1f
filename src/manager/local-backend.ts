/**
 * PROCESSES / WORKERS mode on one machine: the manager owns the authority and drives its
 * instances directly.
 */
import type { InstanceDriver } from '../modes/driver.js'
import { ProcessDriver } from '../modes/processes.js'
import { WorkerDriver } from '../modes/workers.js'
import type { CallContext } from '../rpc/endpoint.js'
import { Authority, resolveLayout } from './authority.js'
import type { Backend, ManagerStatus } from './backend.js'
import { answerBotRequest, type Origin } from './bot-requests.js'
import type { InstanceSettings } from './instance.js'
import type { BotServices, InstanceHost, RootServices } from './instance-host.js'
import { InstancePool } from './instance-pool.js'
import type { ResolvedOptions } from './options.js'
import { planInstances } from './shard-plan.js'
import { PoolBackend } from './pool-backend.js'

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

  get requestTimeout(): number {
    return this.opts.timeouts.request
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

  /** Requests in flight on every instance channel (0 when idle: nothing is ever left behind). */
  inFlight(): number {
    return this.pool?.inFlight() ?? 0
  }

  /** This manager is the root: the authority answers for every instance. */
  get root(): RootServices {
    if (!this.authority) throw new Error('the manager is not started; call manager.start() first')
    return this.authority
  }

  readonly bot: BotServices = {
    request: (from: Origin, kind: string, data: Record<string, unknown>, ctx: CallContext) =>
      answerBotRequest(
        {
          fanout: (a, t, scope) => this.fanout(a, t, scope),
          rollingRestart: () => this.rollingRestart(),
          emitEvent: this.emitEvent,
          listenerCount: (e) => this.events.listenerCount(e),
        },
        from,
        kind,
        data,
        ctx,
      ),
    rawMessage: (from: Origin, message: unknown) => this.emitEvent('message', message, from),
  }

  readonly emitEvent = (name: string, ...args: unknown[]): void => this.events.emitEvent(name, ...args)

  protected requirePool(): InstancePool {
    if (!this.pool) throw new Error('the manager is not started; call manager.start() first')
    return this.pool
  }
}

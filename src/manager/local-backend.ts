/**
 * PROCESSES / WORKERS mode on one machine: the manager owns the authority and drives its
 * instances directly. The instances form a shard set (one shard count); a re-shard starts a
 * second set beside the first and switches to it once every new shard is ready.
 */
import { ShardingError } from '../errors.js'
import type { InstanceDriver } from '../modes/driver.js'
import { ProcessDriver } from '../modes/processes.js'
import { WorkerDriver } from '../modes/workers.js'
import { EARLY_OPT_FLAG, earlyOptBlocker } from '../modes/early-optimization.js'
import { youngGenerationArgs } from '../modes/young-generation.js'
import { GROWTH_FLAG, managerGrowthBlocker } from '../modes/manager-young-generation.js'
import { NO_DEADLINE, deadlineIn } from '../rpc/deadline.js'
import { optimizerFlagsGiven } from '../runtime/optimizer-hold.js'
import type { CallContext } from '../rpc/endpoint.js'
import { withDeadline } from '../rpc/scope.js'
import { Authority, resolveLayout } from './authority.js'
import type { Backend, ManagerStatus } from './backend.js'
import { answerBotRequest, type Origin } from './bot-requests.js'
import { fetchGatewayBot } from './gateway-info.js'
import type { InstanceSettings } from './instance.js'
import type { BotServices, InstanceHost } from './instance-host.js'
import { InstancePool } from './instance-pool.js'
import type { ResolvedOptions } from './options.js'
import { checkBudget, reshardSchema, type ReshardOptions } from './reshard.js'
import { planInstances, range } from './shard-plan.js'
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
  return {
    driver,
    file,
    env,
    execArgv: opts.execArgv,
    // the manager's own flags reach a forked instance too (see ProcessDriver), so they count as given
    v8Flags: driver.mode === 'processes' ? youngGenerationArgs(opts.semiSpaceGrowthFactor, [...process.execArgv, ...opts.execArgv], process.env.NODE_OPTIONS) : [],
    args: opts.args,
    respawn: opts.respawn,
    restarts: opts.restarts,
    timeouts: opts.timeouts,
    adaptDiscordJs: opts.adaptDiscordJs,
    // A process instance checks its own flags (the preload); worker threads share the manager's.
    holdOptimizer: opts.holdOptimizerDuringImports && (driver.mode === 'processes' || !optimizerFlagsGiven([...process.execArgv, ...opts.execArgv], process.env.NODE_OPTIONS)),
    deferSmallFunctionOptimization: opts.deferSmallFunctionOptimization && driver.mode === 'workers' && earlyOptBlocker([...process.execArgv, ...opts.execArgv], process.env.NODE_OPTIONS) === null,
    // the manager's process alone: the user's `execArgv` option is the instances'
    managerGrowthFactor: driver.mode === 'processes' && managerGrowthBlocker(process.execArgv, process.env.NODE_OPTIONS) === null ? opts.managerSemiSpaceGrowthFactor : null,
    turnLimitMs: Math.max(opts.identify.marginMs, MIN_TURN_LIMIT_MS),
  }
}

/**
 * The least lateness an identify turn is allowed (InstanceContext.turnLimitMs is `marginMs`, or this
 * with a smaller margin): a turn is not thrown away for a busy machine's ordinary scheduling delays.
 */
export const MIN_TURN_LIMIT_MS = 250

/** One shard count's instances, and the host they see. */
interface ShardSet {
  readonly totalShards: number
  readonly host: InstanceHost & { active: boolean; onInstanceReady: (() => void) | null }
  readonly pool: InstancePool
}

export class LocalBackend extends PoolBackend implements Backend {
  readonly machineId = 'local'
  private authority: Authority | null = null
  private set: ShardSet | null = null
  /** The set a re-shard is starting, until it becomes `set`. */
  private next: ShardSet | null = null
  private isReady = false

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly events: ManagerEvents,
  ) {
    super()
  }

  get totalShards(): number {
    return this.set?.totalShards ?? 0
  }

  async start(): Promise<void> {
    const layout = await resolveLayout(this.opts, null, this.emitEvent)
    this.authority = new Authority(this.opts, layout, this.emitEvent)
    this.set = this.makeSet(layout.totalShards, layout.shards, this.opts.shardsPerInstance, true)
    await this.set.pool.startAll()
    this.isReady = true
    this.emitEvent('ready')
  }

  async stop(): Promise<void> {
    this.authority?.close()
    await Promise.all([this.next?.pool.stopAll(), this.set?.pool.stopAll()])
  }

  /**
   * Starts the new shard set beside the running one (identify-paced by the same authority), switches
   * routing to it once every new shard is ready, then stops the old set. On failure the new set is
   * stopped and the old one keeps running.
   */
  async reshard(raw: ReshardOptions = {}): Promise<void> {
    const o = reshardSchema.parse(raw ?? {}, 'reshard')
    const authority = this.requireAuthority()
    const old = this.set!
    if (this.next) throw new ShardingError('RESHARD_RUNNING', 'a re-shard is already running; wait for reshardDone or reshardFailed')
    if (o.points) throw new ShardingError('INVALID_OPTION', 'reshard.points: only applies to MACHINES mode')
    if (old.pool.instances.size === 0 || !coversAll(old)) {
      throw new ShardingError('RESHARD_SLICE', 'this manager runs a slice of the bot (shards/totalShards); re-shard from a manager that runs every shard')
    }
    const total = o.totalShards === 'auto' ? await this.recommended() : (o.totalShards ?? old.totalShards)
    const perInstance = o.shardsPerInstance ?? this.opts.shardsPerInstance
    await authority.refreshBudget().catch((err) => this.emitEvent('debug', `budget refresh failed: ${(err as Error).message}`))
    checkBudget(authority.budget(), total)
    const next = this.makeSet(total, range(0, total - 1), perInstance, false)
    this.next = next
    this.emitEvent('reshardStart', { from: { totalShards: old.totalShards, instances: old.pool.instances.size }, to: { totalShards: total, instances: next.pool.instances.size } })
    const progress = () => {
      const ready = next.pool.status().reduce((n, i) => n + (i.state === 'ready' ? i.shards.length : 0), 0)
      this.emitEvent('reshardProgress', { ready, total })
    }
    next.host.onInstanceReady = progress
    try {
      await withDeadline(next.pool.startAll(), { deadline: o.timeout ? deadlineIn(o.timeout) : NO_DEADLINE }, 'the re-shard')
    } catch (err) {
      this.next = null
      await next.pool.stopAll()
      if (total !== old.totalShards) authority.sessions.dropCount(total)
      this.emitEvent('reshardFailed', { error: err, totalShards: old.totalShards })
      throw err
    }
    // Switch: from now on calls, status and events are the new set's; then the old set stops.
    next.host.active = true
    next.pool.setActive(true)
    old.host.active = false
    old.pool.setActive(false)
    this.set = next
    this.next = null
    await old.pool.stopAll()
    if (old.totalShards !== total) authority.sessions.dropCount(old.totalShards)
    this.emitEvent('reshardDone', { totalShards: total, instances: next.pool.instances.size })
  }

  status(): ManagerStatus {
    return {
      mode: this.opts.mode,
      role: 'local',
      totalShards: this.totalShards || null,
      ready: this.isReady,
      identify: this.authority ? this.authority.stats(this.opts.identify.strategy) : null,
      machines: [{ id: this.machineId, state: 'up', instances: this.set?.pool.status() ?? [] }],
      ...(this.next ? { reshard: { totalShards: this.next.totalShards, instances: this.next.pool.status() } } : {}),
    }
  }

  /** Requests in flight on every instance channel (0 when idle: nothing is ever left behind). */
  inFlight(): number {
    return (this.set?.pool.inFlight() ?? 0) + (this.next?.pool.inFlight() ?? 0)
  }

  /** What every instance asks of the manager tier is answered by the set that serves the bot now. */
  private readonly bot: BotServices = {
    request: (from: Origin, kind: string, data: Record<string, unknown>, ctx: CallContext) =>
      answerBotRequest(
        {
          fanout: (a, t, scope, failFast) => this.fanout(a, t, scope, failFast),
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

  private makeSet(totalShards: number, shards: number[], perInstance: number, active: boolean): ShardSet {
    const authority = this.requireAuthority()
    const requestTimeout = this.opts.timeouts.request
    const emitEvent = this.emitEvent
    const host = {
      machineId: this.machineId,
      totalShards,
      active,
      requestTimeout,
      root: authority,
      bot: this.bot,
      onInstanceReady: null as (() => void) | null,
      emitEvent(name: string, ...args: unknown[]) {
        emitEvent(name, ...args)
        if (name === 'instanceReady') this.onInstanceReady?.()
      },
    }
    const driver = driverFor(this.opts.mode as 'processes' | 'workers')
    const settings = instanceSettings(this.opts, driver, this.opts.file!)
    if (settings.deferSmallFunctionOptimization) {
      this.emitEvent('debug', `V8's early optimization of small functions is off while the workers run and none is booting (${EARLY_OPT_FLAG}=0)`)
    } else if (driver.mode === 'workers' && this.opts.deferSmallFunctionOptimization) {
      // (only the blocker can have turned it off here: say which)
      this.emitEvent('debug', `V8's early optimization of small functions is left on: ${earlyOptBlocker([...process.execArgv, ...this.opts.execArgv], process.env.NODE_OPTIONS)}`)
    }
    if (settings.managerGrowthFactor) {
      this.emitEvent('debug', `the manager's young generation grows ${settings.managerGrowthFactor}× at a time while its instance processes run (${GROWTH_FLAG}=${settings.managerGrowthFactor})`)
    } else if (driver.mode === 'processes' && this.opts.managerSemiSpaceGrowthFactor !== null) {
      this.emitEvent('debug', `the manager's young generation keeps V8's sizing: ${managerGrowthBlocker(process.execArgv, process.env.NODE_OPTIONS)}`)
    }
    const pool = new InstancePool(host, settings, planInstances(shards, perInstance))
    return { totalShards, host, pool }
  }

  private async recommended(): Promise<number> {
    if (!this.opts.token) throw new ShardingError('INVALID_OPTION', "reshard.totalShards: 'auto' asks /gateway/bot and needs the manager's `token`")
    return (await fetchGatewayBot(this.opts.api, this.opts.token)).shards
  }

  private requireAuthority(): Authority {
    if (!this.authority) throw new ShardingError('NOT_STARTED', 'the manager is not started; call manager.start() first')
    return this.authority
  }

  readonly emitEvent = (name: string, ...args: unknown[]): void => this.events.emitEvent(name, ...args)

  protected requirePool(): InstancePool {
    if (!this.set) throw new ShardingError('NOT_STARTED', 'the manager is not started; call manager.start() first')
    return this.set.pool
  }
}

/** Whether the set runs every shard of its bot (a slice cannot be re-sharded alone). */
function coversAll(set: ShardSet): boolean {
  let n = 0
  for (const i of set.pool.instances.values()) n += i.shards.length
  return n === set.totalShards
}

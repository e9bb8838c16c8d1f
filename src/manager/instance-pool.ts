/**
 * The instances one manager runs on its own machine: start them all, stop them all, run an action
 * on the ones a target selects, restart them one by one. Used by the single-machine manager and by
 * each child manager in MACHINES mode. While any instance is alive or about to be (queued, in
 * backoff), the pool keeps the process alive, so a user's script never exits under a pending
 * restart; stopping every instance releases it.
 */
import { setMaxListeners } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { ShardingError } from '../errors.js'
import { matches, noTarget, type FanoutEntry, type Target } from '../ipc/targets.js'
import { toWireError } from '../ipc/values.js'
import { takeGrowthShare, type GrowthShare } from '../modes/manager-young-generation.js'
import { partsDeadline } from '../rpc/deadline.js'
import type { CallScope, CallSink } from '../rpc/endpoint.js'
import { Instance, LIVE_STATES, type InstanceAction, type InstanceInfo, type InstanceSettings } from './instance.js'
import type { InstanceHost } from './instance-host.js'
import type { InstancePlan } from './shard-plan.js'

export class InstancePool {
  readonly instances = new Map<number, Instance>()
  private keepAlive: NodeJS.Timeout | null = null

  /** The instances in id order; the set is fixed for the pool's life (a re-shard makes a new pool). */
  private readonly all: readonly Instance[]

  /** PROCESSES mode: this pool's share of the manager's young-generation growth (src/modes/manager-young-generation.ts). */
  private growth: GrowthShare | null = null

  constructor(
    host: InstanceHost,
    private readonly settings: InstanceSettings,
    plans: InstancePlan[],
  ) {
    for (const plan of plans) this.instances.set(plan.id, new Instance(plan.id, plan.shards, host, settings, () => this.holdProcess()))
    this.all = [...this.instances.values()]
  }

  /**
   * Spawns every instance (the start gate paces them) and resolves when all are ready at the same
   * time: one that died after its first ready is waited for again. Rejects if one gives up.
   */
  async startAll(): Promise<void> {
    const factor = this.settings.managerGrowthFactor
    if (factor && !this.growth) this.growth = takeGrowthShare(factor, setFlagsFromString)
    const all = [...this.instances.values()]
    for (const instance of all) instance.launch()
    for (;;) {
      const waiting = all.filter((i) => i.state !== 'ready')
      if (waiting.length === 0) return
      await Promise.all(waiting.map((i) => i.whenReady()))
    }
  }

  async stopAll(resumable = false): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => i.stop(resumable)))
    this.holdProcess()
    this.growth?.release()
    this.growth = null
  }

  get(id: number): Instance {
    const instance = this.instances.get(id)
    if (!instance) throw new ShardingError('NO_SUCH_INSTANCE', `no instance ${id}; instances are ${[...this.instances.keys()].join(', ')}`)
    return instance
  }

  /** The instances a target selects; NoTargetError when none does. */
  select(target: Target): readonly Instance[] {
    const all = this.all
    if (!target.machines && !target.instances && !target.shards) return all
    const selected = all.filter((i) => matches({ machine: i.machine, instances: [i.id], shards: i.shards }, target))
    if (selected.length === 0) throw noTarget(target)
    return selected
  }

  /**
   * Runs an action on every selected instance; one entry per instance, failures included. Each
   * part ends a little before the caller's deadline, so a slow instance becomes a failed entry
   * the caller still receives. With `failFast`, the first failed entry alone, as soon as it fails.
   * One promise gathers the entries, and each part reports to it by index (`runInto`), not through a
   * promise of its own: a call allocates less, and the manager's young generation fills more slowly
   * (fewer collections, a shorter tail).
   */
  run(action: InstanceAction, target: Target, scope: CallScope, failFast = false): Promise<FanoutEntry[]> {
    const parts: CallScope = { deadline: partsDeadline(scope.deadline), signal: scope.signal }
    // One caller's signal is watched by every part of its fan-out: that many listeners is expected.
    if (scope.signal) setMaxListeners(0, scope.signal)
    let selected: readonly Instance[]
    try {
      selected = this.select(target)
    } catch (err) {
      return Promise.reject(err)
    }
    // (a pool without instances: a MACHINES child whose slice is empty)
    if (selected.length === 0) return Promise.resolve([])
    return new Promise((resolve) => {
      const gather = new FanoutGather(selected, failFast, resolve)
      for (let i = 0; i < selected.length; i++) selected[i].runInto(action, parts, gather, i)
    })
  }

  setActive(active: boolean): void {
    for (const i of this.instances.values()) i.setActive(active)
  }

  /** One instance at a time; the next only once the previous is ready again. */
  async rollingRestart(): Promise<void> {
    for (const instance of this.instances.values()) await instance.respawn()
  }

  status(): InstanceInfo[] {
    return [...this.instances.values()].map((i) => i.info())
  }

  /** Requests in flight on every instance's channel (a test checks that nothing is left behind). */
  inFlight(): number {
    let n = 0
    for (const i of this.instances.values()) {
      const f = i.inFlight
      n += f.calls + f.serving + f.djs
    }
    return n
  }

  /** A referenced timer while anything lives: a child process or worker alone may not hold the process (between a death and its restart, nothing does). */
  private holdProcess(): void {
    const alive = [...this.instances.values()].some((i) => LIVE_STATES.has(i.state))
    if (alive && !this.keepAlive) this.keepAlive = setInterval(() => {}, 1 << 30)
    if (!alive && this.keepAlive) {
      clearInterval(this.keepAlive)
      this.keepAlive = null
    }
  }
}

/** The entries of one fan-out, one per selected instance (part `i` is `selected[i]`), as they settle. */
export class FanoutGather implements CallSink {
  private readonly entries: FanoutEntry[]
  private left: number

  constructor(
    private readonly selected: readonly Instance[],
    private readonly failFast: boolean,
    private readonly resolve: (entries: FanoutEntry[]) => void,
  ) {
    this.entries = new Array(selected.length)
    this.left = selected.length
  }

  // Entries share the instance's shard list: finishFanout copies it for callers (allowPartial).
  settled(i: number, ok: boolean, value: unknown): void {
    if (this.left <= 0) return
    const instance = this.selected[i]
    const entry: FanoutEntry = ok
      ? { instance: instance.id, machine: instance.machine, shards: instance.shards, ok: true, value }
      : { instance: instance.id, machine: instance.machine, shards: instance.shards, ok: false, error: toWireError(value) }
    if (this.failFast && !ok) {
      this.left = 0
      return this.resolve([entry])
    }
    this.entries[i] = entry
    if (--this.left === 0) this.resolve(this.entries)
  }
}

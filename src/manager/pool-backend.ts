/** What every backend that runs its own instances (single machine, MACHINES child) does the same way. */
import type { FanoutEntry, Target } from '../ipc/targets.js'
import type { InstanceAction } from './instance.js'
import type { InstancePool } from './instance-pool.js'

export abstract class PoolBackend {
  /** The running pool, or a clear error saying why there is none. */
  protected abstract requirePool(): InstancePool

  fanout(action: InstanceAction, target: Target, timeoutMs: number): Promise<FanoutEntry[]> {
    return this.requirePool().run(action, target, timeoutMs)
  }

  respawn(instanceId: number): Promise<void> {
    return this.requirePool().get(instanceId).respawn()
  }

  rollingRestart(): Promise<void> {
    return this.requirePool().rollingRestart()
  }
}

/** What every backend that runs its own instances (single machine, MACHINES child) does the same way. */
import type { FanoutEntry, Target } from '../ipc/targets.js'
import { NO_DEADLINE } from '../rpc/deadline.js'
import type { CallScope } from '../rpc/endpoint.js'
import { withDeadline } from '../rpc/scope.js'
import type { InstanceAction } from './instance.js'
import type { InstancePool } from './instance-pool.js'

export abstract class PoolBackend {
  /** The running pool, or a clear error saying why there is none. */
  protected abstract requirePool(): InstancePool

  fanout(action: InstanceAction, target: Target, scope: CallScope, failFast = false): Promise<FanoutEntry[]> {
    return this.requirePool().run(action, target, scope, failFast)
  }

  respawn(instanceId: number, scope: CallScope = { deadline: NO_DEADLINE }): Promise<void> {
    return withDeadline(this.requirePool().get(instanceId).respawn(), scope, `respawn of instance ${instanceId}`)
  }

  rollingRestart(scope: CallScope = { deadline: NO_DEADLINE }): Promise<void> {
    return withDeadline(this.requirePool().rollingRestart(), scope, 'the rolling restart')
  }
}

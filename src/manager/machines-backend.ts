/** MACHINES mode: a parent that drives child managers, or a child manager in standby. */
import { ShardingError } from '../errors.js'
import type { Backend } from './backend.js'
import type { ManagerEvents } from './local-backend.js'
import type { ResolvedOptions } from './options.js'

export function createMachinesBackend(_opts: ResolvedOptions, _events: ManagerEvents): Backend {
  throw new ShardingError('NOT_IMPLEMENTED', 'MACHINES mode is not available in this build')
}

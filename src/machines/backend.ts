/** MACHINES mode: a parent that drives child managers, or a child manager in standby. */
import type { Backend } from '../manager/backend.js'
import type { ManagerEvents } from '../manager/local-backend.js'
import type { ResolvedOptions } from '../manager/options.js'
import { ChildBackend } from './child-backend.js'
import { ParentBackend } from './parent-backend.js'

export function createMachinesBackend(opts: ResolvedOptions, events: ManagerEvents): Backend {
  return opts.machines!.me === 'parent' ? new ParentBackend(opts, events) : new ChildBackend(opts, events)
}

/** MACHINES mode: a parent that drives child managers, or a child manager in standby. */
import { ChildBackend } from '../machines/child-backend.js'
import { ParentBackend } from '../machines/parent-backend.js'
import type { Backend } from './backend.js'
import type { ManagerEvents } from './local-backend.js'
import type { ResolvedOptions } from './options.js'

export function createMachinesBackend(opts: ResolvedOptions, events: ManagerEvents): Backend {
  return opts.machines!.me === 'parent' ? new ParentBackend(opts, events) : new ChildBackend(opts, events)
}

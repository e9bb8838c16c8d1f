/** Option shapes shared by the manager's own options and MACHINES childManagerOptions. */
import { OptionsError } from '../errors.js'
import { int, optional, schema, type Schema } from './schema.js'

/** Any string, the empty one included (argv entries, environment values). */
export const anyString: Schema<string> = schema('a string', (v, f) => {
  if (typeof v !== 'string') throw new OptionsError(f, `expected a string, got ${typeof v}`)
  return v
})

/** Restart policy fields; every field optional so childManagerOptions can override some. */
export const restartsShape = {
  max: optional(int(0, 1_000_000)),
  interval: optional(int(1)),
  baseDelay: optional(int(0)),
  maxDelay: optional(int(0)),
}

export const timeoutsShape = {
  ready: optional(int(1)),
  request: optional(int(1)),
  heartbeatInterval: optional(int(10)),
  heartbeat: optional(int(0)),
  kill: optional(int(0)),
}

/** `semiSpaceGrowthFactor` (src/modes/young-generation.ts): V8's growth factor for the young generation, or null. */
export const semiSpaceGrowthFactor: Schema<number | null> = schema('an integer from 2 to 64, or null', (v, f) => (v === null ? null : int(2, 64).parse(v, f)))

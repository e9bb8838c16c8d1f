/** Why an instance exited, and whether a restart could help (pure, so the rules read in one place). */
import { FATAL_EXIT_CODE } from '../constants.js'
import { toWireError, type WireError } from '../ipc/values.js'
import type { ChildExit } from '../modes/driver.js'
import { isFatalGatewayError } from '../runtime/fatal.js'

const DJS_FATAL_CLOSE =
  'a discord.js shard closed with a gateway code it never reconnects from (4004 authentication failed, 4010 invalid shard, 4011 sharding required, 4012 API version, 4013/4014 intents); discord.js does not report which'

export function exitReason(exit: ChildExit, lastCrash: WireError | null, stopping: boolean): string {
  if (lastCrash) return `uncaught ${lastCrash.name}: ${lastCrash.message}`
  if (exit.error) return `uncaught ${exit.error.name}: ${exit.error.message}`
  if (exit.signal) return `killed by ${exit.signal}`
  if (exit.code !== 0 && exit.code !== null) return `exited with code ${exit.code}`
  return stopping ? 'stopped' : 'exited'
}

/**
 * The error that makes this exit final, if any, most precise first: what the instance reported
 * (attach() on a fatal close), a crash with a fatal gateway error (bad token, 4010-4014), and
 * discord.js's id-less `_disconnect`, which v14 sends only for closes it never recovers from.
 */
export function fatalCause(exit: ChildExit, seen: { reported: WireError | null; lastCrash: WireError | null; djsFatalClose: boolean }): WireError | null {
  if (seen.reported) return seen.reported
  if (exit.code === FATAL_EXIT_CODE || isFatalGatewayError(exit.error)) return seen.lastCrash ?? toWireError(exit.error)
  if (seen.djsFatalClose) return { name: 'FatalGatewayClose', message: DJS_FATAL_CLOSE }
  return null
}

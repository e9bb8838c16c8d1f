/**
 * Entry of a WORKERS-mode instance: installs the runtime, then loads the user's client file in the
 * same thread (so discord.js's ShardClientUtil finds the same parentPort). A client file that
 * throws surfaces as the Worker's 'error' event in the manager.
 */
import Module from 'node:module'
import { pathToFileURL } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { workerData } from 'node:worker_threads'
import { Ops } from '../ipc/envelope.js'
import { installDiscordJsAdapter } from './discordjs-adapter.js'
import { InstanceRuntime } from './instance-runtime.js'
import { heldMessage, holdOptimizerDuringImports, OPTIMIZER_HOLD_MAX_MS, SHARED_HOLD_KEY, type SharedHold } from './optimizer-hold.js'

const runtime = InstanceRuntime.install()
if (!runtime) throw new Error('worker-entry started without a sharding context; it is started by the sharding manager only')
// The manager took this worker's share of the process's optimizer hold when it started the worker
// (src/modes/workers.ts); it is given back at the first CommonJS load, as in PROCESSES mode.
const shared = (workerData as Record<string, unknown> | null)?.[SHARED_HOLD_KEY] as SharedHold | undefined
if (shared) {
  holdOptimizerDuringImports({
    setFlags: setFlagsFromString,
    shared,
    loader: Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown },
    maxMs: OPTIMIZER_HOLD_MAX_MS,
    onRelease: (why, heldMs) => runtime.post(Ops.DEBUG, { message: heldMessage(why, heldMs) }),
  })
}
installDiscordJsAdapter(runtime)
void import(pathToFileURL(runtime.context.file).href).catch((err: unknown) => {
  // Rethrow outside the promise chain so it becomes the worker's uncaught error.
  setImmediate(() => {
    throw err
  })
})

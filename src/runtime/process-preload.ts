/** Loaded with `node --require` before the client file of a PROCESSES-mode instance. */
import Module from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { Ops } from '../ipc/envelope.js'
import { installDiscordJsAdapter } from './discordjs-adapter.js'
import { InstanceRuntime } from './instance-runtime.js'
import { holdOptimizerDuringImports, optimizerFlagsGiven } from './optimizer-hold.js'

/** A client file that imports no CommonJS gets the optimizer back after this long. */
const OPTIMIZER_HOLD_MAX_MS = 3000

const runtime = InstanceRuntime.install()
if (runtime?.context.holdOptimizer && !optimizerFlagsGiven(process.execArgv, process.env.NODE_OPTIONS)) {
  holdOptimizerDuringImports({
    setFlags: setFlagsFromString,
    loader: Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown },
    maxMs: OPTIMIZER_HOLD_MAX_MS,
    onRelease: (why, heldMs) => runtime.post(Ops.DEBUG, { message: `V8's optimizing compiler was held for ${Math.round(heldMs)} ms while the client file resolved its imports; released at ${why}` }),
  })
}
if (runtime) installDiscordJsAdapter(runtime)

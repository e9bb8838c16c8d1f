/** Loaded with `node --require` before the client file of a PROCESSES-mode instance. */
import Module from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { Ops } from '../ipc/envelope.js'
import { installDiscordJsAdapter } from './discordjs-adapter.js'
import { InstanceRuntime } from './instance-runtime.js'
import { heldMessage, holdOptimizerDuringImports, OPTIMIZER_HOLD_MAX_MS, optimizerFlagsGiven } from './optimizer-hold.js'

const runtime = InstanceRuntime.install()
if (runtime?.context.holdOptimizer && !optimizerFlagsGiven(process.execArgv, process.env.NODE_OPTIONS)) {
  holdOptimizerDuringImports({
    setFlags: setFlagsFromString,
    loader: Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown },
    maxMs: OPTIMIZER_HOLD_MAX_MS,
    onRelease: (why, heldMs) => runtime.post(Ops.DEBUG, { message: heldMessage(why, heldMs) }),
  })
}
if (runtime) installDiscordJsAdapter(runtime)

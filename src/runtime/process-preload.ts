/** Loaded with `node --require` before the client file of a PROCESSES-mode instance. */
import Module from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { Ops } from '../ipc/envelope.js'
import { installDiscordJsAdapter } from './discordjs-adapter.js'
import { InstanceRuntime } from './instance-runtime.js'
import { heldMessage, holdOptimizerDuringImports, OPTIMIZER_HOLD_MAX_MS, optimizerFlagsGiven } from './optimizer-hold.js'
import { applyV8Tuning } from './v8-tuning.js'

function resolves(req: NodeJS.Require, id: string): boolean {
  try {
    req.resolve(id)
    return true
  } catch {
    return false
  }
}

const runtime = InstanceRuntime.install()
const v8Flags = runtime?.context.v8Flags ?? []
if (runtime && v8Flags.length > 0) {
  // Before the optimizer hold: its own flag would also keep Node from using its code cache.
  const fromClientFile = Module.createRequire(runtime.context.file)
  const first = applyV8Tuning(v8Flags, {
    setFlags: setFlagsFromString,
    load: (id) => fromClientFile(`node:${id}`),
    usesDiscordJs: () => resolves(fromClientFile, 'discord.js'),
  })
  runtime.post(Ops.DEBUG, { message: `V8 flags set at start: ${v8Flags.join(' ')}${first.length > 0 ? ` (after loading the ${first.length} built-in modules discord.js uses, while Node's code cache still applied)` : ''}` })
}
if (runtime?.context.holdOptimizer && !optimizerFlagsGiven(process.execArgv, process.env.NODE_OPTIONS)) {
  holdOptimizerDuringImports({
    setFlags: setFlagsFromString,
    loader: Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown },
    maxMs: OPTIMIZER_HOLD_MAX_MS,
    onRelease: (why, heldMs) => runtime.post(Ops.DEBUG, { message: heldMessage(why, heldMs) }),
  })
}
if (runtime) installDiscordJsAdapter(runtime)

/** The real actions behind the commands (the bin wires them into the program). */
import { runDemo } from './demo.js'
import { resolveDemoOptions, type DemoFlags } from './options.js'
import { packageRoot } from './paths.js'
import type { CliActions } from './program.js'
import { runSimulator } from './simulator.js'
import { runStatus } from './status.js'
import { runParent } from './parent.js'

export const cliActions: CliActions = {
  demo: (flags: DemoFlags) => runDemo(resolveDemoOptions(flags, packageRoot())),
  simulator: runSimulator,
  status: (flags) => runStatus(flags),
  parent: (flags) => runParent(flags),
}

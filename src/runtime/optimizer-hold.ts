/**
 * PROCESSES mode: V8's optimizing compiler (TurboFan) waits while an ESM client file resolves its
 * imports. Node reads the export names of every CommonJS package an ES module imports by running
 * its CommonJS export lexer over the package's source, re-exports included (for discord.js, over a
 * megabyte of code); the lexer runs hot for a moment and then never again, but V8 optimizes it
 * anyway, ~0.1-0.16 s of compiler CPU per instance (its `parseSource` alone is one of the largest
 * compile jobs of a boot). On a machine with fewer cores than instances booting together, that CPU
 * comes out of everyone's boot. Held, the lexer runs unoptimized, which costs less than compiling it.
 *
 * The hold ends at the first CommonJS module that loads (`Module._load` of anything not built in):
 * for an ES module, Node lexes all of its CommonJS imports while linking, before any of them runs;
 * for a CommonJS client file it is the file itself, so nothing is held. A client file that imports
 * no CommonJS at all is released after `maxMs`. Functions that became hot while it was held are
 * optimized at their next check, as if nothing happened: the flag is read per decision, and V8 keeps
 * counting in the meantime (BENCHMARKS.md: no change to eval latency; the other ways of holding it that
 * were tried, through discord.js's own loading, a bytecode-size limit of 0 or a raised interrupt
 * budget, each cost eval latency afterwards).
 *
 * Node keeps V8's flags writable after start so that `v8.setFlagsFromString` works. Never applied
 * when the process's own flags already say how V8 should optimize (the user's choice wins), and
 * never in WORKERS mode (the flag would hold every thread of the process, the manager's included).
 */
import { isBuiltin } from 'node:module'

/** Flags that already decide how V8 optimizes: with any of them, the hold is not applied. */
const OPTIMIZER_FLAG = /^--(no[-_])?(turbofan|opt|always[-_]turbofan|always[-_]opt|jitless|turbo[-_]filter|max[-_]optimized[-_]bytecode[-_]size|maglev|lite[-_]mode)(=|$)/

/** Whether the process's flags (`process.execArgv`, NODE_OPTIONS) already set V8's optimizer. */
export function optimizerFlagsGiven(execArgv: readonly string[], nodeOptions = ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => OPTIMIZER_FLAG.test(a))
}

type LoadFn = (request: string, ...rest: unknown[]) => unknown

export interface OptimizerHoldDeps {
  /** `v8.setFlagsFromString`. */
  setFlags(flags: string): void
  /** `require('node:module')`, whose `_load` every CommonJS load goes through. */
  loader: { _load: LoadFn }
  /** How long a client file that loads no CommonJS is held at most (ms). */
  maxMs: number
  /** Told once, when the hold ends: why, and after how long. */
  onRelease?(why: string, heldMs: number): void
  setTimeout?: (fn: () => void, ms: number) => { unref?(): void }
  now?: () => number
}

/** Holds V8's optimizing compiler until the first CommonJS load (or `maxMs`). Returns the release. */
export function holdOptimizerDuringImports(deps: OptimizerHoldDeps): () => void {
  const now = deps.now ?? (() => performance.now())
  const start = now()
  let held = true
  const release = (why: string) => {
    if (!held) return
    held = false
    deps.setFlags('--turbofan')
    deps.onRelease?.(why, now() - start)
  }
  deps.setFlags('--no-turbofan')
  const load = deps.loader._load
  // The wrapper stays (others may have wrapped it since); once released it only passes calls on.
  deps.loader._load = function loadReleasingOptimizer(this: unknown, request: string, ...rest: unknown[]) {
    if (held && typeof request === 'string' && !isBuiltin(request)) release(`the first CommonJS load (${request})`)
    return load.call(this, request, ...rest)
  }
  const timer = (deps.setTimeout ?? setTimeout)(() => release(`no CommonJS load within ${deps.maxMs} ms`), deps.maxMs)
  timer.unref?.()
  return () => release('released by the caller')
}

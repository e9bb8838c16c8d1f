/**
 * V8's optimizing compiler (TurboFan) waits while an ESM client file resolves its imports (each
 * instance process's own in PROCESSES mode; in WORKERS mode the process's, below). Node reads the
 * export names of every CommonJS package an ES module imports by running its CommonJS export lexer over
 * the package's source, re-exports included (for discord.js, over a megabyte of code); the lexer runs
 * hot for a moment and then never again, but V8 optimizes it anyway, ~0.1-0.16 s of compiler CPU per
 * instance (its `parseSource` alone is one of the largest compile jobs of a boot). On a machine with
 * fewer cores than instances booting together, that CPU comes out of everyone's boot. Held, the lexer
 * runs unoptimized, which costs less than compiling it.
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
 * when the process's own flags already say how V8 should optimize (the user's choice wins).
 *
 * WORKERS mode: V8's flags belong to the process, so every worker thread shares one hold. The manager
 * takes a worker's share when it starts the worker (`takeSharedHold`: the first share turns the
 * compiler off), the worker gives it back at its first CommonJS load, and the manager gives back the
 * share of a worker that exits still holding it; the last share given back turns the compiler on.
 * Each share is a cell that is given back at most once, whoever gets there first, so a worker that
 * dies while importing cannot leave the process's compiler off. The manager's own thread waits too,
 * for the moment a worker resolves its imports (measured in BENCHMARKS.md: 0.1-0.25 s per worker).
 */
import { isBuiltin } from 'node:module'

/** Flags that already decide how V8 optimizes: with any of them, the hold is not applied. */
const OPTIMIZER_FLAG = /^--(no[-_])?(turbofan|opt|always[-_]turbofan|always[-_]opt|jitless|turbo[-_]filter|max[-_]optimized[-_]bytecode[-_]size|maglev|lite[-_]mode)(=|$)/

/** Whether the process's flags (`process.execArgv`, NODE_OPTIONS) already set V8's optimizer. */
export function optimizerFlagsGiven(execArgv: readonly string[], nodeOptions = ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => OPTIMIZER_FLAG.test(a))
}

/** A client file that imports no CommonJS gets the optimizer back after this long (ms). */
export const OPTIMIZER_HOLD_MAX_MS = 3000

/** Where WORKERS mode hands a worker its share (in `workerData`). */
export const SHARED_HOLD_KEY = 'DISCORDOO_OPTIMIZER_HOLD'

type LoadFn = (request: string, ...rest: unknown[]) => unknown

/**
 * WORKERS mode: one worker's share of the process's hold. `count` (shared by every thread of the
 * process) is the number of shares not given back; `mine` is 1 until this share is given back. Both
 * live in SharedArrayBuffers, so the worker and the manager see the same cells.
 */
export interface SharedHold {
  count: Int32Array
  mine: Int32Array
}

/** The manager's side, when it starts a worker: takes a share; the first one holds the compiler. */
export function takeSharedHold(count: Int32Array, setFlags: (flags: string) => void): SharedHold {
  const mine = new Int32Array(new SharedArrayBuffer(4))
  mine[0] = 1
  if (Atomics.add(count, 0, 1) === 0) setFlags('--no-turbofan')
  return { count, mine }
}

/**
 * Gives a share back (the worker at its first CommonJS load, or the manager when the worker exits);
 * the last one given back releases the compiler. True only for the call that gave it back.
 */
export function giveBackSharedHold(hold: SharedHold, setFlags: (flags: string) => void): boolean {
  if (Atomics.compareExchange(hold.mine, 0, 1, 0) !== 1) return false
  if (Atomics.sub(hold.count, 0, 1) === 1) setFlags('--turbofan')
  return true
}

export interface OptimizerHoldDeps {
  /** `v8.setFlagsFromString`. */
  setFlags(flags: string): void
  /**
   * WORKERS mode: the share the manager took for this worker; the hold is already on, and releasing
   * gives the share back. Without it, the process's own hold is taken now (PROCESSES mode).
   */
  shared?: SharedHold
  /** `require('node:module')`, whose `_load` every CommonJS load goes through. */
  loader: { _load: LoadFn }
  /** How long a client file that loads no CommonJS is held at most (ms). */
  maxMs: number
  /** Told once, when the hold ends: why, and after how long. */
  onRelease?(why: string, heldMs: number): void
  setTimeout?: (fn: () => void, ms: number) => { unref?(): void }
  now?: () => number
}

/** The instance's `debug` line when its hold ends. */
export function heldMessage(why: string, heldMs: number): string {
  return `V8's optimizing compiler was held for ${Math.round(heldMs)} ms while the client file resolved its imports; released at ${why}`
}

/** Holds V8's optimizing compiler until the first CommonJS load (or `maxMs`). Returns the release. */
export function holdOptimizerDuringImports(deps: OptimizerHoldDeps): () => void {
  const now = deps.now ?? (() => performance.now())
  const start = now()
  let held = true
  const shared = deps.shared
  const release = (why: string) => {
    if (!held) return
    held = false
    if (shared) {
      // given back already (the manager's timer): nothing was held by this call, nothing to report
      if (!giveBackSharedHold(shared, deps.setFlags)) return
    } else {
      deps.setFlags('--turbofan')
    }
    deps.onRelease?.(why, now() - start)
  }
  if (!shared) deps.setFlags('--no-turbofan')
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

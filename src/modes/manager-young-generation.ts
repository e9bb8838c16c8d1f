/**
 * PROCESSES mode: the manager's own young generation grows faster while its instance processes run.
 *
 * Once the call path is optimized, the slowest steady calls to instance processes are the ones the
 * manager's young-generation collections land on, so their number per call sets the p99. V8 starts the
 * young generation at 1 MiB and doubles it only after as much as its size has survived collections,
 * which on a lean manager (ours allocates ~11 KB per broadcastEval, almost none of it surviving) takes
 * a long time: after ~9,000 calls ours was at 4 or 8 MB where discord.js's manager, which loads all of
 * discord.js at start, was at 16 MB; 14 collections per 3,000 calls against its 6. With V8's
 * `--semi-space-growth-factor=4` in the manager, five alternating single rounds of `bench/ipc.mjs` on
 * a 2-vCPU VM gave a steady p99 (medians) of 0.16 ms instead of 0.20 for the opted-in bot and 0.17
 * instead of 0.25 for the unmodified one, against discord.js's 0.26 ms (BENCHMARKS.md). The young generation's ceiling is V8's either
 * way; it is reached sooner (up to ~16 MB more resident memory in the manager).
 *
 * V8's flags belong to the process (the user's), so the factor is set only while a pool of instance
 * processes runs, and the last pool to stop restores V8's default (2); with several pools in one
 * process the largest factor held applies. Not applied when the manager's own flags (`execArgv` of the
 * manager's process, NODE_OPTIONS) size the young generation, and never for WORKERS mode: a worker
 * booting while a flag differs from V8's default compiles Node's built-in modules without the code
 * cache (src/runtime/v8-tuning.ts). For the same reason, a built-in module the manager's process loads
 * for the first time while the factor is set is compiled from source, once.
 */
import { YOUNG_GENERATION_FLAG } from './young-generation.js'

export const GROWTH_FLAG = '--semi-space-growth-factor'
/** V8's default growth factor: what the last share given back restores. */
export const V8_GROWTH_DEFAULT = 2

/** Why the manager's process keeps V8's sizing, or null when the factor may be set. */
export function managerGrowthBlocker(execArgv: readonly string[], nodeOptions = ''): string | null {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].find((a) => YOUNG_GENERATION_FLAG.test(a))
  return given ? `the manager's process already sizes its young generation (${given})` : null
}

/** The factors held by running pools, for the whole process (ESM and CJS copies count together). */
export interface GrowthShares {
  held: number[]
  /** What was last set; null while V8's default was never changed. */
  applied: number | null
}

export function processGrowthShares(): GrowthShares {
  const key = Symbol.for('discordoo-sharding.managerGrowthShares')
  const g = globalThis as { [key]?: GrowthShares }
  return (g[key] ??= { held: [], applied: null })
}

/** One pool's share: `release()` when the pool stops; it acts once. */
export interface GrowthShare {
  release(): void
}

export function takeGrowthShare(factor: number, setFlags: (flags: string) => void, shares: GrowthShares = processGrowthShares()): GrowthShare {
  shares.held.push(factor)
  apply(shares, setFlags)
  let released = false
  return {
    release() {
      if (released) return
      released = true
      shares.held.splice(shares.held.indexOf(factor), 1)
      apply(shares, setFlags)
    },
  }
}

function apply(shares: GrowthShares, setFlags: (flags: string) => void): void {
  const want = shares.held.length > 0 ? Math.max(...shares.held) : shares.applied === null ? null : V8_GROWTH_DEFAULT
  if (want === null || want === shares.applied) return
  shares.applied = want === V8_GROWTH_DEFAULT && shares.held.length === 0 ? null : want
  setFlags(`${GROWTH_FLAG}=${want}`)
}

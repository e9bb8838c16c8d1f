/**
 * WORKERS mode: V8's early optimization of small functions, switched off while our worker threads run.
 *
 * V8 optimizes a function whose bytecode is under 81 bytes at its first profiler tick, without
 * waiting for it to be hot. A call between the manager and its instances passes through a few dozen
 * such helpers (validity checks, small arrows, the packer's and the deadline's accessors), and in
 * WORKERS mode every isolate of the process (the manager's and each worker's) compiles each of them on
 * its own within the first few thousand calls after a start, on the same cores that serve those
 * calls, although the helpers' callers inline them once they are optimized anyway. Switched off
 * (`--max-bytecode-size-for-early-opt=0`), small functions are optimized as every other function is,
 * when their calls make them hot: on a 2-core VM with 4 discord.js workers, the 99th percentile of the
 * first 3,000 broadcastEvals after a start went from ~0.7 to ~0.3-0.4 ms (discord.js's own manager:
 * ~0.65 ms), with steady latency and throughput unchanged (BENCHMARKS.md).
 *
 * V8's flags belong to the process, so the flag is the process's while workers of ours run and none of
 * them is booting: each worker takes a share when it is started, says when it is ready (booted), and
 * gives its share back when it exits. Why not while one boots: Node compiles its built-in modules from
 * the code cache in its binary only while every V8 flag has its default value (src/runtime/v8-tuning.ts),
 * and a worker loading discord.js with the flag set compiled ~130 of them from source (4 workers booting
 * together: ~0.1 s more CPU, ~0.06 s later ready). The last share given back restores V8's default
 * (81). PROCESSES mode changes nothing: the manager's process is the user's alone there, and its
 * instances' cold calls are already faster.
 *
 * Not applied when the process's own flags (`execArgv`, NODE_OPTIONS) set it (the user's choice wins),
 * nor on a V8 this was not measured on: V8 reports a flag it does not know on stderr.
 */

export const EARLY_OPT_FLAG = '--max-bytecode-size-for-early-opt'
/** V8's default for the flag: what the last share given back restores. */
export const V8_EARLY_OPT_DEFAULT = 81
/** V8 major versions the flag was measured on (Node 20's 11.3); others are left alone. */
export const MEASURED_V8_MAJORS: readonly number[] = [11]

const GIVEN = /^--max[-_]bytecode[-_]size[-_]for[-_]early[-_]opt(=|$)/

/** Whether the process's flags (`process.execArgv` with the user's `execArgv`, NODE_OPTIONS) already set it. */
export function earlyOptFlagGiven(execArgv: readonly string[], nodeOptions = ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => GIVEN.test(a))
}

/** Why the flag is left alone, or null when it may be set. */
export function earlyOptBlocker(execArgv: readonly string[], nodeOptions = '', v8Version = process.versions.v8): string | null {
  if (earlyOptFlagGiven(execArgv, nodeOptions)) return `${EARLY_OPT_FLAG} is already set by the process's flags`
  const major = Number.parseInt(v8Version, 10)
  if (!MEASURED_V8_MAJORS.includes(major)) return `V8 ${v8Version} is not a version it was measured on (V8 ${MEASURED_V8_MAJORS.join(', ')})`
  return null
}

/**
 * Shares not given back, for the whole process (a second copy of this library, ESM and CJS, counts
 * together): workers running, of which still booting; and whether the flag is set now.
 */
export interface EarlyOptShares {
  running: number
  booting: number
  set: boolean
}

export function processEarlyOptShares(): EarlyOptShares {
  const key = Symbol.for('discordoo-sharding.earlyOptShares')
  const g = globalThis as { [key]?: EarlyOptShares }
  return (g[key] ??= { running: 0, booting: 0, set: false })
}

/** One worker's share: `booted()` once it is ready, `release()` when it exits; each acts once. */
export interface EarlyOptShare {
  booted(): void
  release(): void
}

/**
 * Takes a booting worker's share. The flag is set while any share is held and none is booting, and
 * V8's default is restored otherwise.
 */
export function takeEarlyOptShare(setFlags: (flags: string) => void, shares: EarlyOptShares = processEarlyOptShares()): EarlyOptShare {
  let state: 'booting' | 'running' | 'released' = 'booting'
  shares.running++
  shares.booting++
  apply(shares, setFlags)
  return {
    booted() {
      if (state !== 'booting') return
      state = 'running'
      shares.booting--
      apply(shares, setFlags)
    },
    release() {
      if (state === 'released') return
      if (state === 'booting') shares.booting--
      state = 'released'
      shares.running--
      apply(shares, setFlags)
    },
  }
}

function apply(shares: EarlyOptShares, setFlags: (flags: string) => void): void {
  const want = shares.running > 0 && shares.booting === 0
  if (want === shares.set) return
  shares.set = want
  setFlags(`${EARLY_OPT_FLAG}=${want ? 0 : V8_EARLY_OPT_DEFAULT}`)
}

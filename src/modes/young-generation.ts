/**
 * The young generation of an instance process. V8 starts it at 1 MiB and doubles it on demand, and
 * an instance process answering the manager's calls then spends markedly longer per call than one
 * whose young generation grew faster while it booted (measured on a 2-vCPU VM with 4 discord.js
 * instances, steady broadcastEval p50: V8's factor 2 0.19-0.25 ms, 4 0.14-0.18 ms, 8 0.14-0.19 ms;
 * discord.js's own shard processes gain as much with such a flag; BENCHMARKS.md). It has to be there
 * from the boot: set once the bot is ready, it gains nothing. Costs: loading discord.js takes ~0.08 s
 * longer, and about 8 MiB more resident memory per process (the young generation ends at V8's usual
 * ceiling either way). Factor 8 also slows the first ~3,000 calls after a start (cold p50 0.34-0.37
 * against 0.20-0.28 ms), 4 does not, and 3 gains nothing over 2; a fixed 16 MiB minimum
 * (`--min-semi-space-size`) boots slower still. So PROCESSES mode gives each instance
 * `--semi-space-growth-factor` unless the user sized the young generation; the instance's runtime sets
 * it at start (src/runtime/v8-tuning.ts: on the command line it would cost Node's code cache for its
 * built-in modules). Worker threads cannot take V8 flags of their own (they share the process's), so
 * WORKERS mode leaves them alone.
 */

/** Flags that already size the young generation: the user's choice wins. */
export const YOUNG_GENERATION_FLAG = /^--(min|max)[-_]semi[-_]space[-_]size\b|^--semi[-_]space[-_]growth[-_]factor\b|^--max[-_]heap[-_]size\b/

/**
 * The V8 flags that make an instance process grow its young generation by `factor` at a time; none
 * when `factor` is null or when `userArgs` (the manager's own execArgv and the user's `execArgv`
 * option) or NODE_OPTIONS already size the young generation.
 */
export function youngGenerationArgs(factor: number | null, userArgs: readonly string[], nodeOptions = ''): string[] {
  if (factor === null) return []
  const given = [...userArgs, ...nodeOptions.split(/\s+/)].some((a) => YOUNG_GENERATION_FLAG.test(a))
  return given ? [] : [`--semi-space-growth-factor=${factor}`]
}

/**
 * The young generation of an instance process. V8 starts it at 1 MiB and lets it shrink again, and
 * an instance process answering the manager's calls then spends markedly longer per call (measured on
 * a 2-vCPU VM: broadcastEval p50 0.26 → 0.16 ms and p99 about halved with a 16 MiB minimum, for
 * discord.js's own shard processes as much as for ours; BENCHMARKS.md "young generation"), for about
 * 10 MiB more memory per process. So PROCESSES mode passes `--min-semi-space-size` to each instance
 * unless the user chose a young-generation size of their own. Worker threads cannot take V8 flags of
 * their own (they share the process's), so WORKERS mode leaves them alone.
 */

/** V8's default ceiling for a semi-space on 64-bit machines, MiB. */
const DEFAULT_MAX_SEMI_SPACE_MB = 16

/** Flags that already size the young generation: the user's choice wins. */
const YOUNG_GENERATION_FLAG = /^--(min|max)[-_]semi[-_]space[-_]size\b|^--semi[-_]space[-_]growth[-_]factor\b|^--max[-_]heap[-_]size\b/

/**
 * The node flags that give an instance process a minimum semi-space of `mb` MiB; none when `mb` is
 * null or when `userArgs` (the manager's own execArgv and the user's `execArgv` option) or
 * NODE_OPTIONS already size the young generation.
 */
export function youngGenerationArgs(mb: number | null, userArgs: readonly string[], nodeOptions = ''): string[] {
  if (mb === null) return []
  const given = [...userArgs, ...nodeOptions.split(/\s+/)].some((a) => YOUNG_GENERATION_FLAG.test(a))
  if (given) return []
  const args = [`--min-semi-space-size=${mb}`]
  // V8 clamps the minimum to the maximum: a larger minimum needs the maximum raised with it.
  if (mb > DEFAULT_MAX_SEMI_SPACE_MB) args.push(`--max-semi-space-size=${mb}`)
  return args
}

// Runs every benchmark (npm run bench = npm run build && node bench/run.mjs) and prints the ratios
// that matter at the end. Each scenario runs in its own process group with a time limit and is
// killed with everything it started if it overruns. See BENCHMARKS.md for results.
//
//   node bench/run.mjs [--only startup|ipc] [--verbose]
import { arg, flag } from './lib.mjs'

const only = arg('only')
const verbose = flag('verbose')
const out = {}
let failed = false

if (!only || only === 'startup') {
  const { main } = await import('./startup.mjs')
  console.log('== startup ==')
  out.startup = await main({ verbose })
  failed ||= out.startup.results.some((r) => r.error)
  console.log('')
}
if (!only || only === 'ipc') {
  const { main } = await import('./ipc.mjs')
  console.log('== ipc ==')
  out.ipc = await main({ verbose })
  failed ||= out.ipc.results.some((r) => r.error)
  console.log('')
}

console.log('== summary (ratios) ==')
for (const r of out.startup?.results ?? []) {
  if (r.error) console.log(`startup ${r.name}: FAILED`)
  else if (r.floorMs > 0) console.log(`startup ${r.name}: ${(r.readyMs / r.floorMs).toFixed(2)}× the physical floor (${r.violations} identify violations)`)
}
for (const p of out.startup?.summary.pairs ?? []) console.log(`startup ${p.ours} / ${p.theirs}: ${p.ratio.toFixed(2)}×`)
for (const p of out.ipc?.ratios ?? []) {
  console.log(`ipc ${p.a} / ${p.b}: p50 ${p.p50.toFixed(2)}×, p99 ${p.p99.toFixed(2)}× (cold ${p.coldP99.toFixed(2)}×), throughput ${p.throughput.toFixed(2)}×`)
}
process.exit(failed ? 1 : 0)

#!/usr/bin/env node
// The chaos suite: `npm run chaos` (build first), or `node bench/chaos.mjs --duration 60s`.
// Crashes instances, child managers and the parent, cuts and fills links and hangs event loops
// under continuous traffic, and checks that every call settles on time with the right error, the
// bot comes back to all-ready after every fault, the simulator saw no identify violation or
// duplicate session, and no process is left. Prints a Markdown report for BENCHMARKS.md.
// Options: --help. Exit code 0 = every check held, 1 = a check failed, 2 = bad options, 130 = interrupted.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { ConfigError, parseFlags, resolveConfig, USAGE } from './chaos/config.mjs'
import { buildSummary, formatSummary } from './chaos/report.mjs'
import { ChaosRun } from './chaos/run.mjs'

let config
try {
  const flags = parseFlags(process.argv.slice(2))
  if (flags.help) {
    console.log(USAGE)
    process.exit(0)
  }
  config = resolveConfig(flags, process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`chaos: ${err.message}`)
  process.exit(2)
}

const started = Date.now()
const log = (line) => console.log(line)
const run = new ChaosRun(config, config.verbose ? log : (line) => (/^ {2}(FINDING|VIOLATION|DUPLICATE|repair)|^\[|^all ready|^fault phase|^topology|^abort/.test(line) ? log(line) : undefined))

let interrupts = 0
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupts++
    if (interrupts === 1) return run.abort(`${signal}: stopping and cleaning up (again to kill everything at once)`)
    run.hardKill()
    process.exit(130)
  })
}

await run.execute()
const summary = buildSummary(run)
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
})()
const command = `node bench/chaos.mjs ${process.argv.slice(2).join(' ')}`.trim()
console.log('')
console.log(formatSummary(summary, { command }))
console.log(`\nCommit ${commit}; ${cpus().length} × ${cpus()[0]?.model?.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; ran ${Math.round((Date.now() - started) / 1000)} s.`)
if (config.json) writeFileSync(config.json, JSON.stringify({ ...summary, commit, command }, null, 2))
process.exit(interrupts > 0 ? 130 : summary.passed ? 0 : 1)

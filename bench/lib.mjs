// Shared helpers for the benchmarks: run each scenario in its own process group with a time limit,
// collect its result line, and format tables.
import { spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'

export const RESULT_MARK = '@@bench-result '
export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const OPTED_IN_BOT = fileURLToPath(new URL('../examples/bots/discordjs-bot.mjs', import.meta.url))
export const UNMODIFIED_BOT = fileURLToPath(new URL('../examples/bots/discordjs-unmodified.mjs', import.meta.url))

export const randomToken = () => `bench-${randomBytes(18).toString('base64url')}`

export function machine() {
  const c = cpus()
  return `${c.length} × ${c[0]?.model?.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}, load ${load()}`
}

/** The 1-minute load average: other work on a shared machine shows here (2 cores: above 2 is contention). */
export const load = () => loadavg()[0].toFixed(1)

/** Prints a scenario's result for the parent process to pick up. */
export function emitResult(result) {
  process.stdout.write(`\n${RESULT_MARK}${JSON.stringify(result)}\n`)
}

/** True when this module is the script node was started with. */
export function isMain(metaUrl) {
  return process.argv[1] && fileURLToPath(metaUrl) === process.argv[1]
}

/** Resolves after `ms`; the timer does not hold the process open. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms).unref())

/** Rejects with `message` if `promise` does not settle within `ms`. */
export function within(promise, ms, message) {
  let timer
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer))
}

let current = null
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    if (current) killGroup(current)
    process.exit(130)
  })
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL') // the scenario's own process group: it and every shard it started
  } catch {
    // already gone
  }
}

const DIST_FILES = ['dist/index.js', 'dist/simulator.js', 'dist/client.js', 'dist/runtime/worker-entry.js', 'dist/runtime/process-preload.cjs']

/** A fingerprint of the built files, or null while any is missing (a build is under way). */
function distStamp() {
  try {
    return DIST_FILES.map((f) => statSync(new URL(`../${f}`, import.meta.url)).mtimeMs).join(',')
  } catch {
    return null
  }
}

/** Waits until dist/ exists and has not changed for 3 s (someone else may be building). */
async function stableDist(limitMs = 120_000) {
  const end = Date.now() + limitMs
  let last = distStamp()
  let since = Date.now()
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500)) // not unref'd: this wait is what keeps the runner alive
    const now = distStamp()
    if (now !== last) {
      last = now
      since = Date.now()
    } else if (now !== null && Date.now() - since >= 3000) return now
  }
  throw new Error('dist/ is missing or keeps changing; run `npx tsup` and retry')
}

/**
 * runScenario, but retried (at most twice) when dist/ was rebuilt while the scenario ran: a build
 * (tsup cleans dist/) under a running benchmark breaks its instances, which says nothing about them.
 */
export async function runScenarioStable(script, name, options) {
  for (let attempt = 1; ; attempt++) {
    const before = await stableDist()
    const result = await runScenario(script, name, options)
    if (!result.error || distStamp() === before || attempt === 3) return result
    console.log(`(dist/ was rebuilt during ${name}; running it again) `)
  }
}

/**
 * Runs `node script --scenario name` in a new process group and resolves with its result object (or
 * `{ error }`). The group is killed if the scenario overruns `timeoutMs` or leaves processes behind.
 */
export function runScenario(script, name, { timeoutMs, verbose = false, env = {} }) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, '--scenario', name], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    current = child
    let out = ''
    let result = null
    const onData = (chunk) => {
      const text = chunk.toString()
      out += text
      if (verbose) process.stdout.write(text.split('\n').map((l) => (l ? `    | ${l}` : l)).join('\n'))
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    const timer = setTimeout(() => {
      result = { error: `timed out after ${timeoutMs / 1000} s` }
      killGroup(child)
    }, timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      current = null
      killGroup(child) // nothing of the scenario may outlive it
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARK))
      if (!result) result = line ? JSON.parse(line.slice(RESULT_MARK.length)) : { error: `exited with ${signal ?? code} and no result; last output:\n${out.split('\n').slice(-15).join('\n')}` }
      resolve({ ...result, exit: code, output: out })
    })
  })
}

/** Markdown-ish table with right-aligned numeric-looking cells. */
export function table(header, rows) {
  const widths = header.map((h, k) => Math.max(String(h).length, ...rows.map((r) => String(r[k] ?? '').length)))
  const isNum = (v) => /^[-+]?[\d.,]+( ?(ms|s|×|%|\/s|MiB))?$/.test(String(v))
  const line = (cells) => `| ${cells.map((c, k) => (isNum(c) ? String(c ?? '').padStart(widths[k]) : String(c ?? '').padEnd(widths[k]))).join(' | ')} |`
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

export const ms = (v) => (v === null || v === undefined ? '—' : `${Math.round(v)} ms`)
export const secs = (v) => (v === null || v === undefined ? '—' : `${(v / 1000).toFixed(2)} s`)
export const ratio = (a, b) => (a === null || b === null || a === undefined || b === undefined || b === 0 ? '—' : `${(a / b).toFixed(2)}×`)

/** p-th percentile (0-100) of a sorted copy, nearest rank. */
export function percentile(values, p) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

/** `--name value` from argv. */
export function arg(name, fallback = null) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}
export const flag = (name) => process.argv.includes(`--${name}`)

/**
 * The command line every benchmark file shares: `--scenario <name>` measures one scenario in this
 * process (the runner starts one process per scenario); otherwise run them all (`--only a,b`, `--verbose`).
 */
export async function runBenchCli(metaUrl, scenarios, measure, main) {
  if (!isMain(metaUrl)) return
  const name = arg('scenario')
  if (name) {
    const s = scenarios.find((x) => x.name === name)
    if (!s) throw new Error(`no scenario ${name}`)
    try {
      emitResult(await measure(s))
      process.exit(0)
    } catch (err) {
      emitResult({ error: err?.stack ?? String(err) })
      process.exit(1)
    }
  }
  const rounds = arg('rounds') === null ? undefined : Number(arg('rounds'))
  const { results } = await main({ only: arg('only')?.split(','), verbose: flag('verbose'), rounds })
  process.exit(results.some((r) => r.error) ? 1 : 0)
}

/**
 * Starts the gateway simulator in its own process (bench/sim-process.mjs) and resolves with its REST
 * URL, `stats()` (the admin API's `/__sim/stats`) and `stop()`.
 */
export async function startSimulatorProcess(options) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./sim-process.mjs', import.meta.url)), JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const restUrl = await within(
    new Promise((resolve, reject) => {
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (chunk) => {
        out += chunk
        const m = /@@sim-ready (\S+)\n/.exec(out)
        if (m) resolve(m[1])
      })
      child.once('exit', (code) => reject(new Error(`the simulator process exited (${code}) before it listened`)))
    }),
    30_000,
    'the simulator process did not listen within 30 s',
  )
  const admin = restUrl.replace(/\/api$/, '')
  return {
    restUrl,
    pid: child.pid,
    async stats() {
      const res = await fetch(`${admin}/__sim/stats`)
      if (!res.ok) throw new Error(`simulator stats: HTTP ${res.status}`)
      return res.json()
    },
    stop() {
      if (child.exitCode !== null) return Promise.resolve()
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      return gone
    },
  }
}

/**
 * `{ execArgv }` from BENCH_EXECARGV (node flags for every instance, of our manager or discord.js's),
 * or nothing; spread into a manager's options.
 */
export function benchExecArgv() {
  return process.env.BENCH_EXECARGV ? { execArgv: process.env.BENCH_EXECARGV.split(' ').filter(Boolean) } : {}
}

/**
 * Options for our managers only, from BENCH_OPTIONS (a JSON object, e.g.
 * `{"holdOptimizerDuringImports":false}`), spread last into their options: how BENCHMARKS.md compares
 * an option's settings in the same scenarios. Nothing when unset.
 */
export function benchOptions() {
  const raw = process.env.BENCH_OPTIONS
  if (!raw) return {}
  let parsed
  try {
    parsed = JSON.parse(raw)
  } catch (err) {
    throw new Error(`BENCH_OPTIONS: not JSON (${err.message}); give an object of manager options, e.g. '{"semiSpaceGrowthFactor":null}'`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`BENCH_OPTIONS: expected a JSON object of manager options, got ${raw}`)
  }
  return parsed
}

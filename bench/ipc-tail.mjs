// Where the slow broadcastEval calls come from: one manager (ours or discord.js's), 4 instances with one
// discord.js shard each against the simulator, sequential calls after a long warm-up, with every
// garbage collection of the manager and of each instance recorded (`gc` performance entries) so the
// slowest calls can be matched against them, and the CPU each call costs (Linux: /proc), split into the
// manager's main thread, its other threads (worker instances, V8 and libuv helpers) and the instance
// processes. Run pairs back to back; a single run says little on a shared VM.
//
//   npm run build && node bench/ipc-tail.mjs --mode processes --manager ours
//   node bench/ipc-tail.mjs --mode workers --manager discord.js [--warmup 8000] [--calls 3000]
//   node bench/ipc-tail.mjs --mode workers --manager ours --bot unmodified --warmup 100   (the cold phase)
//   node bench/ipc-tail.mjs --mode workers --call ids --calls 200 --warmup 6000   (bench/ipc.mjs's payload call)
//   node bench/ipc-tail.mjs --mode processes --call bare   (an eval without a context, warmed up as itself)
// Environment: BENCH_EXECARGV='<flags>' node flags for every instance; BENCH_OPTIONS='<json>' options for
// our manager; TAIL_DETAIL=1 lists the slowest 1 %
// of calls with the collections they overlap (and each one's kind: scavenge, mark-compact, ...);
// TAIL_PROFILE=<dir> writes CPU profiles (100 µs sampling) of the measured calls: the manager's main
// thread and every instance, to open in Chrome's DevTools;
// TAIL_MARK=1 prints a line before and after the measured calls, to cut V8's own traces to them:
//   TAIL_MARK=1 node --trace-opt bench/ipc-tail.mjs --mode workers --warmup 100 (optimizing compiles in the window)
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { PerformanceObserver } from 'node:perf_hooks'
import { ShardingManager } from '../dist/index.js'
import { arg, benchExecArgv, benchOptions, OPTED_IN_BOT, randomToken, startSimulatorProcess, UNMODIFIED_BOT } from './lib.mjs'

const mode = arg('mode', 'workers')
const who = arg('manager', 'ours')
const WARMUP = Number(arg('warmup', '8000'))
const CALLS = Number(arg('calls', '3000'))
// ours only: the opted-in example bot, or the one written for discord.js's manager (adapted by our runtime)
const BOT = arg('bot', 'opted-in') === 'unmodified' ? UNMODIFIED_BOT : OPTED_IN_BOT
const CALL = arg('call', 'small')
if (!['processes', 'workers'].includes(mode) || !['ours', 'discord.js'].includes(who) || !['small', 'ids', 'bare'].includes(CALL)) {
  console.error('usage: node bench/ipc-tail.mjs --mode processes|workers --manager ours|discord.js [--warmup N] [--calls N] [--call small|ids|bare]')
  process.exit(2)
}

const token = randomToken()
const sim = await startSimulatorProcess({ token, guilds: 1000, maxConcurrency: 4 })
const { restUrl } = sim
let evalAll
let stop
if (who === 'ours') {
  const manager = new ShardingManager({ file: BOT, mode, shards: 4, shardsPerInstance: 1, token, passToken: true, api: restUrl, env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: token }, respawn: false, ...benchExecArgv(), ...benchOptions() })
  await manager.start()
  evalAll = (fn, context) => manager.broadcastEval(fn, { context })
  stop = () => manager.stop()
} else {
  const { ShardingManager: DjsShardingManager } = await import('discord.js')
  process.env.DISCORD_API_BASE = restUrl
  const manager = new DjsShardingManager(UNMODIFIED_BOT, { totalShards: 4, token, mode: mode === 'workers' ? 'worker' : 'process', respawn: false, ...benchExecArgv() })
  await manager.spawn({ delay: 0 })
  evalAll = (fn, context) => manager.broadcastEval(fn, { context })
  stop = async () => {
    for (const shard of manager.shards.values()) shard.kill()
  }
}

// Every thread records its collections on the same clock (timeOrigin + now).
const gcs = []
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ who: 'manager', start: performance.timeOrigin + e.startTime, ms: e.duration, kind: e.detail?.kind })
}).observe({ entryTypes: ['gc'] })
await evalAll(async () => {
  const { PerformanceObserver } = await import('node:perf_hooks')
  globalThis.__benchGcs = []
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) globalThis.__benchGcs.push({ start: performance.timeOrigin + e.startTime, ms: e.duration, kind: e.detail?.kind })
  }).observe({ entryTypes: ['gc'] })
  return true
})

/** CPU ms so far per thread of this process and of its child processes ('pid/tid' → ms); {} without /proc. */
function cpuByThread() {
  if (!existsSync('/proc/self/task')) return {}
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split(/\s+/).filter(Boolean)
  const out = {}
  // the simulator's process is not part of either manager
  for (const pid of [String(process.pid), ...children.filter((pid) => pid !== String(sim.pid))]) {
    let tids = []
    try {
      tids = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue // ps itself, gone by now
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        out[`${pid}/${tid}`] = ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime + stime, 100 ticks/s
      } catch {}
    }
  }
  return out
}

// a context no call had before (see bench/ipc.mjs: V8's eval cache in discord.js's shards)
let callNo = 0
const small = () => evalAll((c, ctx) => c.guilds.cache.size + ctx.i * 0, { i: callNo++ })
// --call ids: the measured calls are bench/ipc.mjs's payload call (every guild id of each instance)
const ids = () => evalAll((c, ctx) => c.guilds.cache.map((g) => g.id).concat(String(ctx.i)), { i: callNo++ })
// --call bare: the eval most bots send, with no context (the same function every call, warmed up as itself)
const bare = () => evalAll((c) => c.guilds.cache.size)
const measured = CALL === 'ids' ? ids : CALL === 'bare' ? bare : small
for (let i = 0; i < WARMUP; i++) await (CALL === 'bare' ? bare : small)(i)
// TAIL_PROFILE=<dir>: CPU profiles of the measured calls, the manager's main thread and every instance
const profiling = process.env.TAIL_PROFILE
/**
 * Starts a CPU profile of the thread it runs in (100 µs sampling); `globalThis.__benchStopProfile()`
 * ends it and returns the profile as JSON. Self-contained, so each instance runs it as an eval too.
 */
async function startProfile() {
  const { Session } = await import('node:inspector')
  const session = new Session()
  session.connect()
  const post = (m, p = {}) => new Promise((res, rej) => session.post(m, p, (e, r) => (e ? rej(e) : res(r))))
  await post('Profiler.enable')
  await post('Profiler.setSamplingInterval', { interval: 100 })
  await post('Profiler.start')
  globalThis.__benchStopProfile = async () => JSON.stringify((await post('Profiler.stop')).profile)
  return true
}
if (profiling) await evalAll(startProfile)
const cpuBefore = cpuByThread()
if (process.env.TAIL_MARK) console.log('=== measured calls start')
if (profiling) await startProfile()
const calls = []
for (let i = 0; i < CALLS; i++) {
  const t = performance.timeOrigin + performance.now()
  await measured(i)
  calls.push({ t, ms: performance.timeOrigin + performance.now() - t })
}
if (process.env.TAIL_MARK) console.log('=== measured calls end')
const mainProfile = profiling ? await globalThis.__benchStopProfile() : null
const cpuAfter = cpuByThread()
if (profiling) {
  const { mkdirSync, writeFileSync } = await import('node:fs')
  mkdirSync(profiling, { recursive: true })
  writeFileSync(`${profiling}/manager.cpuprofile`, mainProfile)
  const profiles = await evalAll(() => globalThis.__benchStopProfile())
  profiles.forEach((p, i) => writeFileSync(`${profiling}/instance-${i}.cpuprofile`, p))
}
const instanceGcs = await evalAll(() => globalThis.__benchGcs ?? [])
instanceGcs.forEach((list, i) => list.forEach((g) => gcs.push({ who: `instance ${i}`, ...g })))
await stop()
await sim.stop()

const sorted = calls.map((c) => c.ms).sort((a, b) => a - b)
const q = (p) => sorted[Math.floor((p / 100) * (sorted.length - 1))].toFixed(3)
console.log(`${who}, ${mode}: ${CALLS} calls after ${WARMUP}: p50 ${q(50)} ms, p90 ${q(90)} ms, p99 ${q(99)} ms, max ${sorted.at(-1).toFixed(2)} ms`)
const during = gcs.filter((g) => g.start >= calls[0].t)
for (const name of ['manager', 'instance']) {
  const mine = during.filter((g) => g.who.startsWith(name))
  console.log(`  collections during the run, ${name}${name === 'instance' ? 's' : ''}: ${mine.length}, ${(mine.reduce((a, g) => a + g.ms, 0) / Math.max(1, mine.length)).toFixed(2)} ms on average`)
}
// perf_hooks' NODE_PERFORMANCE_GC_* flags
const GC_KINDS = { 1: 'scavenge', 4: 'mark-compact', 8: 'incremental marking', 16: 'weak callbacks' }
const slowest = [...calls].sort((a, b) => b.ms - a.ms).slice(0, Math.ceil(CALLS / 50))
const overlapping = slowest.filter((c) => during.some((g) => g.start < c.t + c.ms && g.start + g.ms > c.t)).length
console.log(`  slowest 2 % (${slowest.length} calls): ${overlapping} overlap a collection in some thread, ${slowest.length - overlapping} none`)
// where in the run the slowest 1 % fall (JIT warm-up shows as a cluster at the start)
const slowest1 = [...calls.keys()].sort((a, b) => calls[b].ms - calls[a].ms).slice(0, Math.ceil(CALLS / 100))
const tenths = Array.from({ length: 10 }, (_, d) => slowest1.filter((i) => Math.floor((i * 10) / CALLS) === d).length)
console.log(`  slowest 1 % (${slowest1.length} calls) by tenth of the run: ${tenths.join(' ')}`)
if (process.env.TAIL_DETAIL) for (const i of slowest1.sort((a, b) => a - b)) {
  const c = calls[i]
  const g = during.filter((g) => g.start < c.t + c.ms && g.start + g.ms > c.t).map((g) => `${g.who} ${g.ms.toFixed(1)} (${GC_KINDS[g.kind] ?? g.kind})`)
  console.log(`    call ${i}: ${c.ms.toFixed(2)} ms ${g.join(', ')}`)
}
const cpu = { main: 0, threads: 0, processes: 0 }
for (const [key, ms] of Object.entries(cpuAfter)) {
  const [pid, tid] = key.split('/')
  const spent = ms - (cpuBefore[key] ?? 0)
  if (pid !== String(process.pid)) cpu.processes += spent
  else if (tid === pid) cpu.main += spent
  else cpu.threads += spent
}
const perCall = (ms) => `${Math.round((ms * 1000) / CALLS)} µs`
if (Object.keys(cpuAfter).length > 0) {
  console.log(`  CPU per call: manager main thread ${perCall(cpu.main)}, its other threads ${perCall(cpu.threads)}, instance processes ${perCall(cpu.processes)} (10 ms ticks over ${CALLS} calls)`)
}
process.exit(0)

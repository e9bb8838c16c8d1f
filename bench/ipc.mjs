// IPC benchmark: broadcastEval round trips between the manager and 4 instances (one discord.js shard
// each, connected to the local gateway simulator), in processes and worker threads, for
// discordoo-sharding and for discord.js's own ShardingManager.
//
//   npm run build && node bench/ipc.mjs          every scenario, 3 rounds (about 7 minutes)
//   node bench/ipc.mjs --only ours-processes --verbose --rounds 1
//   node bench/ipc.mjs --scenario <name>         one scenario in this process (used by the runner)
//   BENCH_EXECARGV='--semi-space-growth-factor=8' node bench/ipc.mjs
//                                                the same node flags for every instance of both managers
//                                                (replaces ours' default semiSpaceGrowthFactor flag; see README)
//   BENCH_OPTIONS='{"semiSpaceGrowthFactor":null}' node bench/ipc.mjs
//                                                options for our managers only (a JSON object)
//
// Every call carries a context no other call of the run had: discord.js answers concurrent calls with
// identical script text from one round trip, and each of its shards keeps compiled eval scripts in V8's
// cache, either of which would measure a cache instead of the IPC.
import { fileURLToPath } from 'node:url'
import { ShardingManager } from '../dist/index.js'
import { benchExecArgv, benchOptions, machine, OPTED_IN_BOT, percentile, randomToken, ratio, runBenchCli, runScenarioStable, startSimulatorProcess, table, UNMODIFIED_BOT, within } from './lib.mjs'

const SCRIPT = fileURLToPath(import.meta.url)
const INSTANCES = 4
const GUILDS = 1000
const WARMUP = 100
const LATENCY_CALLS = 3000
// Calls between the cold and the steady latency runs: the JIT has optimized both stacks by then.
const STEADY_AFTER = 6000
const PAYLOAD_CALLS = 200
const THROUGHPUT_CALLS = 20000
const IN_FLIGHT = 64

export const SCENARIOS = [
  { name: 'ours-processes', manager: 'ours', mode: 'processes', bot: 'opted-in' },
  { name: 'ours-workers', manager: 'ours', mode: 'workers', bot: 'opted-in' },
  // The bot written for discord.js's manager, unchanged: the preloaded runtime adapts it.
  { name: 'ours-unmodified-processes', manager: 'ours', mode: 'processes', bot: 'unmodified' },
  { name: 'ours-unmodified-workers', manager: 'ours', mode: 'workers', bot: 'unmodified' },
  { name: 'djs-process', manager: 'discord.js', mode: 'process', bot: 'unmodified' },
  { name: 'djs-worker', manager: 'discord.js', mode: 'worker', bot: 'unmodified' },
]

async function sequential(n, call) {
  const times = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await call(i)
    times.push(performance.now() - t)
  }
  return times
}

async function concurrent(n, inFlight, call) {
  let next = 0
  const t = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await call(next++)
    }),
  )
  return performance.now() - t
}

const summary = (times) => ({ p50: percentile(times, 50), p99: percentile(times, 99), mean: times.reduce((a, b) => a + b, 0) / times.length })

async function measure(s) {
  const token = randomToken()
  // max_concurrency 4: the four shards have four different identify keys and start together.
  const sim = await startSimulatorProcess({ token, guilds: GUILDS, maxConcurrency: INSTANCES })
  const { restUrl } = sim
  let stop = async () => {}
  try {
    let evalAll
    if (s.manager === 'ours') {
      const manager = new ShardingManager({
        file: s.bot === 'unmodified' ? UNMODIFIED_BOT : OPTED_IN_BOT,
        mode: s.mode,
        shards: INSTANCES,
        shardsPerInstance: 1,
        token,
        passToken: true,
        api: restUrl,
        env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: token },
        respawn: false,
        ...benchExecArgv(),
        ...benchOptions(),
      })
      manager.on('error', (e) => console.error('[manager error]', e.message))
      stop = () => manager.stop()
      await within(manager.start(), 60_000, 'start timed out')
      evalAll = (fn, context) => manager.broadcastEval(fn, { context })
    } else {
      const { ShardingManager: DjsShardingManager } = await import('discord.js')
      process.env.DISCORD_API_BASE = restUrl
      const manager = new DjsShardingManager(UNMODIFIED_BOT, { totalShards: INSTANCES, token, mode: s.mode, respawn: false, ...benchExecArgv() })
      stop = async () => {
        for (const shard of manager.shards.values()) shard.kill()
      }
      await within(manager.spawn({ delay: 0, timeout: 60_000 }), 60_000, 'spawn timed out')
      evalAll = (fn, context) => manager.broadcastEval(fn, { context })
    }

    // One counter for every call of the scenario, so no context repeats across the phases: discord.js
    // evaluates a script built from the function and its context in each shard, and V8 caches compiled
    // eval scripts; a context seen a few thousand calls earlier measured that cache (0.22-0.27 ms p50
    // against 0.38-0.42 ms for the same calls with contexts never seen before), not the IPC.
    let callNo = 0
    const small = () => evalAll((c, ctx) => c.guilds.cache.size + ctx.i * 0, { i: callNo++ })
    const ids = () => evalAll((c, ctx) => c.guilds.cache.map((g) => g.id).concat(String(ctx.i)), { i: callNo++ })
    const check = await small()
    if (!Array.isArray(check) || check.length !== INSTANCES || check.some((n) => n !== GUILDS / INSTANCES)) throw new Error(`unexpected broadcastEval result ${JSON.stringify(check)}`)
    const payload = await ids()
    const payloadBytes = Buffer.byteLength(JSON.stringify(payload))

    await within(sequential(WARMUP, small), 60_000, 'warm-up timed out')
    // cold: right after start, while V8 still compiles the hot path on the same two cores
    const cold = summary(await within(sequential(LATENCY_CALLS, small), 120_000, 'cold latency run timed out'))
    await within(sequential(STEADY_AFTER, small), 120_000, 'warm-up timed out')
    // steady: what a bot that has been running for a while sees
    const latency = summary(await within(sequential(LATENCY_CALLS, small), 120_000, 'latency run timed out'))
    const payloadLatency = summary(await within(sequential(PAYLOAD_CALLS, ids), 120_000, 'payload run timed out'))
    const elapsed = await within(concurrent(THROUGHPUT_CALLS, IN_FLIGHT, small), 120_000, 'throughput run timed out')
    return { ...s, cold, latency, payloadLatency, payloadBytes, throughput: THROUGHPUT_CALLS / (elapsed / 1000), violations: (await sim.stats()).violations.length }
  } finally {
    await within(stop(), 20_000, 'stop timed out').catch((e) => console.error(e.message))
    await sim.stop()
  }
}

const f2 = (v) => (v === null || v === undefined ? '—' : `${v.toFixed(2)} ms`)
const perSec = (v) => (v === null || v === undefined ? '—' : `${Math.round(v)}/s`)

function report(results) {
  const ok = results.filter((r) => !r.error)
  console.log(
    table(
      ['scenario', 'mode', 'cold p50', 'cold p99', 'p50', 'p99', 'mean', `ids p50 (${ok[0] ? (ok[0].payloadBytes / 1024).toFixed(0) : '?'} KiB)`, 'ids p99', `throughput (${IN_FLIGHT} in flight)`],
      results.map((r) =>
        r.error
          ? [r.name, r.mode, 'FAILED', '', '', '', '', '', '', r.error.split('\n')[0]]
          : [r.name, r.mode, f2(r.cold.p50), f2(r.cold.p99), f2(r.latency.p50), f2(r.latency.p99), f2(r.latency.mean), f2(r.payloadLatency.p50), f2(r.payloadLatency.p99), perSec(r.throughput)],
      ),
    ),
  )
  const by = Object.fromEntries(ok.map((r) => [r.name, r]))
  const pairs = [
    ['ours-processes', 'djs-process'],
    ['ours-workers', 'djs-worker'],
    ['ours-unmodified-processes', 'djs-process'],
    ['ours-unmodified-workers', 'djs-worker'],
    ['ours-workers', 'ours-processes'],
  ].filter(([a, b]) => by[a] && by[b])
  if (pairs.length) {
    console.log('\nratios (latency: < 1 is faster; throughput: > 1 is more calls per second):')
    console.log(
      table(
        ['a', 'b', 'cold p50 a/b', 'cold p99 a/b', 'p50 a/b', 'p99 a/b', 'ids p50 a/b', 'throughput a/b'],
        pairs.map(([a, b]) => [
          a,
          b,
          ratio(by[a].cold.p50, by[b].cold.p50),
          ratio(by[a].cold.p99, by[b].cold.p99),
          ratio(by[a].latency.p50, by[b].latency.p50),
          ratio(by[a].latency.p99, by[b].latency.p99),
          ratio(by[a].payloadLatency.p50, by[b].payloadLatency.p50),
          ratio(by[a].throughput, by[b].throughput),
        ]),
      ),
    )
  }
  return pairs.map(([a, b]) => ({
    a,
    b,
    coldP50: by[a].cold.p50 / by[b].cold.p50,
    coldP99: by[a].cold.p99 / by[b].cold.p99,
    p50: by[a].latency.p50 / by[b].latency.p50,
    p99: by[a].latency.p99 / by[b].latency.p99,
    throughput: by[a].throughput / by[b].throughput,
  }))
}

/** The median of each figure over the rounds of one scenario (the VM's speed drifts over minutes). */
function medianOf(runs) {
  const ok = runs.filter((r) => !r.error)
  if (ok.length === 0) return runs[0]
  const med = (pick) => {
    const v = ok.map(pick).sort((a, b) => a - b)
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
  }
  const stats = (key) => ({ p50: med((r) => r[key].p50), p99: med((r) => r[key].p99), mean: med((r) => r[key].mean) })
  return { ...ok[0], cold: stats('cold'), latency: stats('latency'), payloadLatency: stats('payloadLatency'), throughput: med((r) => r.throughput), rounds: ok.length }
}

export async function main({ only = null, verbose = false, rounds = 3 } = {}) {
  const selected = only ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS
  if (only && selected.length !== only.length) throw new Error(`unknown scenario in --only; known: ${SCENARIOS.map((s) => s.name).join(', ')}`)
  console.log(`ipc benchmark · ${machine()}`)
  console.log(
    `${INSTANCES} instances × 1 discord.js shard; broadcastEval((c, ctx) => c.guilds.cache.size) ${LATENCY_CALLS}× one after another, ` +
      `cold (after ${WARMUP} warm-up calls) and steady (after ${STEADY_AFTER} more), ` +
      `a guild-id list (${GUILDS / INSTANCES} ids per instance) ${PAYLOAD_CALLS}×, and ${THROUGHPUT_CALLS} calls with ${IN_FLIGHT} in flight\n`,
  )
  // Rounds interleave the scenarios (a b c, a b c, ...) so a slow minute of the VM hits all of them.
  const runs = new Map(selected.map((s) => [s.name, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const s of selected) {
      process.stdout.write(`  ${rounds > 1 ? `[${round}/${rounds}] ` : ''}${s.name} … `)
      const r = await runScenarioStable(SCRIPT, s.name, { timeoutMs: 240_000, verbose })
      const result = { ...s, ...r }
      delete result.output
      runs.get(s.name).push(result)
      console.log(result.error ? `FAILED: ${result.error}` : `cold p99 ${f2(result.cold.p99)}; p50 ${f2(result.latency.p50)}, p99 ${f2(result.latency.p99)}, ${perSec(result.throughput)}`)
    }
  }
  const results = selected.map((s) => (runs.get(s.name).some((r) => r.error) ? runs.get(s.name).find((r) => r.error) : medianOf(runs.get(s.name))))
  console.log(rounds > 1 ? `\nmedians of ${rounds} rounds:` : '')
  const ratios = report(results)
  return { results, ratios }
}

await runBenchCli(import.meta.url, SCENARIOS, measure, main)

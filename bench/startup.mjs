// Start-up benchmark: time from start to every shard ready, for real discord.js v14 bots against the
// local gateway simulator with the real 5000 ms identify window, compared with the physical floor
// (ceil(N/C)-1) × 5000 ms and with discord.js's own ShardingManager on the same simulator.
//
//   npm run build && node bench/startup.mjs            every scenario (about 4 minutes)
//   node bench/startup.mjs --only ours-opted-in-processes-16x4,djs-process-16x4
//   node bench/startup.mjs --verbose                   also show each scenario's output
//   node bench/startup.mjs --scenario <name>           one scenario in this process (used by the runner)
import { fileURLToPath } from 'node:url'
import { ShardingManager } from '../dist/index.js'
import { GatewaySimulator } from '../dist/simulator.js'
import { OPTED_IN_BOT, UNMODIFIED_BOT, machine, randomToken, ratio, runBenchCli, runScenarioStable, secs, table, within } from './lib.mjs'

const WINDOW_MS = 5000
const GUILDS = 1000
const SCRIPT = fileURLToPath(import.meta.url)

/** Every scenario: who manages the shards, which bot, N shards, max_concurrency C. */
export const SCENARIOS = [
  { name: 'ours-opted-in-processes-16x4', manager: 'ours', bot: 'opted-in', mode: 'processes', shards: 16, concurrency: 4, perInstance: 4 },
  { name: 'ours-opted-in-workers-16x4', manager: 'ours', bot: 'opted-in', mode: 'workers', shards: 16, concurrency: 4, perInstance: 4 },
  { name: 'ours-unmodified-processes-16x4', manager: 'ours', bot: 'unmodified', mode: 'processes', shards: 16, concurrency: 4, perInstance: 4 },
  { name: 'ours-unmodified-workers-16x4', manager: 'ours', bot: 'unmodified', mode: 'workers', shards: 16, concurrency: 4, perInstance: 4 },
  { name: 'djs-process-16x4', manager: 'discord.js', bot: 'unmodified', mode: 'process', shards: 16, concurrency: 4, perInstance: 1 },
  { name: 'ours-opted-in-processes-4x1', manager: 'ours', bot: 'opted-in', mode: 'processes', shards: 4, concurrency: 1, perInstance: 1 },
  { name: 'ours-opted-in-workers-4x1', manager: 'ours', bot: 'opted-in', mode: 'workers', shards: 4, concurrency: 1, perInstance: 1 },
  { name: 'ours-unmodified-processes-4x1', manager: 'ours', bot: 'unmodified', mode: 'processes', shards: 4, concurrency: 1, perInstance: 1 },
  { name: 'djs-process-4x1', manager: 'discord.js', bot: 'unmodified', mode: 'process', shards: 4, concurrency: 1, perInstance: 1 },
]

export const floorMs = (n, c, windowMs = WINDOW_MS) => (Math.ceil(n / c) - 1) * windowMs

/** Runs one scenario in this process; resolves with its measurements. */
async function measure(s) {
  const token = randomToken()
  const sim = new GatewaySimulator({ token, guilds: GUILDS, maxConcurrency: s.concurrency, windowMs: WINDOW_MS })
  const { restUrl } = await sim.start({ port: 0, host: '127.0.0.1' })
  const file = s.bot === 'opted-in' ? OPTED_IN_BOT : UNMODIFIED_BOT
  let stop = async () => {}
  let readyMs
  let extra = {}
  try {
    if (s.manager === 'ours') {
      const manager = new ShardingManager({
        file,
        mode: s.mode,
        shards: s.shards,
        shardsPerInstance: s.perInstance,
        token,
        passToken: true,
        api: restUrl,
        env: { DISCORD_API_BASE: restUrl },
        identify: { windowMs: WINDOW_MS }, // + the default 250 ms margin
        respawn: false,
      })
      const deaths = [] // instances that died before every shard was ready (none expected)
      let started = false
      manager.on('instanceDeath', (i) => started || deaths.push(`instance ${i.id}: ${i.reason?.message ?? i.code}`))
      manager.on('error', (e) => console.error('[manager error]', e.message))
      stop = () => manager.stop()
      const t0 = performance.now()
      await within(manager.start(), 170_000, 'manager.start() did not resolve in 170 s')
      readyMs = performance.now() - t0
      started = true
      extra = { strategy: manager.status().identify?.strategy, spacingMs: manager.status().identify?.spacingMs, deaths }
    } else {
      // discord.js's own manager: one shard per process, its default 5500 ms delay between spawns.
      const { ShardingManager: DjsShardingManager } = await import('discord.js')
      process.env.DISCORD_API_BASE = restUrl // discord.js copies process.env into each shard
      const manager = new DjsShardingManager(file, { totalShards: s.shards, token, mode: s.mode, respawn: false })
      stop = async () => {
        for (const shard of manager.shards.values()) shard.kill()
      }
      const t0 = performance.now()
      await within(manager.spawn({ timeout: 60_000 }), 170_000, 'manager.spawn() did not resolve in 170 s')
      readyMs = performance.now() - t0
      extra = { delayMs: 5500 }
    }
    const stats = sim.stats()
    // Let the bots' own ready-time requests (the example bot calls fetchClientValues on 'clientReady')
    // settle before stopping: discord.js's manager throws (uncaught TypeError in Shard.send) when it
    // answers a shard it has just killed.
    await new Promise((r) => setTimeout(r, 1000))
    const accepted = stats.identifies.filter((i) => i.outcome === 'accepted')
    return {
      ...s,
      readyMs,
      floorMs: floorMs(s.shards, s.concurrency),
      identifies: stats.identifyCount,
      violations: stats.violations.length,
      violationDetail: stats.violations.slice(0, 5),
      duplicates: stats.sessions.duplicates.length,
      liveSessions: Object.keys(stats.sessions.byShard).length,
      // first and last accepted IDENTIFY relative to the first one
      identifySpanMs: accepted.length ? accepted.at(-1).at - accepted[0].at : null,
      ...extra,
    }
  } finally {
    await within(stop(), 20_000, 'stop timed out').catch((e) => console.error(e.message))
    await sim.stop()
  }
}

function report(results) {
  const rows = results.map((r) =>
    r.error
      ? [r.name, r.manager, r.bot, r.mode, `${r.shards}`, `${r.concurrency}`, 'FAILED', '', '', '', '', r.error.split('\n')[0]]
      : [
          r.name,
          r.manager,
          r.bot,
          r.mode,
          `${r.shards}`,
          `${r.concurrency}`,
          secs(r.readyMs),
          secs(r.floorMs),
          r.floorMs > 0 ? ratio(r.readyMs, r.floorMs) : '—',
          `${r.violations}`,
          `${r.duplicates}`,
          r.manager === 'ours' ? `${r.perInstance}/instance, ${r.strategy}` : `1/process, delay ${r.delayMs} ms`,
        ],
  )
  console.log(table(['scenario', 'manager', 'bot', 'mode', 'N', 'C', 'start → all ready', 'floor', 'ready / floor', 'violations', 'dup. sessions', 'layout'], rows))

  const byName = Object.fromEntries(results.filter((r) => !r.error).map((r) => [r.name, r]))
  const pairs = [
    ['ours-opted-in-processes-16x4', 'djs-process-16x4'],
    ['ours-opted-in-workers-16x4', 'djs-process-16x4'],
    ['ours-unmodified-processes-16x4', 'djs-process-16x4'],
    ['ours-unmodified-workers-16x4', 'djs-process-16x4'],
    ['ours-opted-in-processes-4x1', 'djs-process-4x1'],
    ['ours-opted-in-workers-4x1', 'djs-process-4x1'],
    ['ours-unmodified-processes-4x1', 'djs-process-4x1'],
  ].filter(([a, b]) => byName[a] && byName[b])
  if (pairs.length) {
    console.log('\nours / discord.js ShardingManager (same simulator, same N and C; < 1 is faster):')
    console.log(table(['ours', 'discord.js', 'ours', 'theirs', 'ours / theirs'], pairs.map(([a, b]) => [a, b, secs(byName[a].readyMs), secs(byName[b].readyMs), ratio(byName[a].readyMs, byName[b].readyMs)])))
  }
  return { rows, pairs: pairs.map(([a, b]) => ({ ours: a, theirs: b, ratio: byName[a].readyMs / byName[b].readyMs })) }
}

/** Runs the selected scenarios, each in its own process group; prints and returns the results. */
export async function main({ only = null, verbose = false } = {}) {
  const selected = only ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS
  if (only && selected.length !== only.length) throw new Error(`unknown scenario in --only; known: ${SCENARIOS.map((s) => s.name).join(', ')}`)
  console.log(`startup benchmark · ${machine()}`)
  console.log(`simulator: ${GUILDS} guilds, identify window ${WINDOW_MS} ms; ours adds its default 250 ms margin\n`)
  const results = []
  for (const s of selected) {
    process.stdout.write(`  ${s.name} … `)
    const r = await runScenarioStable(SCRIPT, s.name, { timeoutMs: 200_000, verbose })
    const result = { ...s, ...r }
    delete result.output
    results.push(result)
    console.log(result.error ? `FAILED: ${result.error}` : `${secs(result.readyMs)} (floor ${secs(result.floorMs)}, ${result.violations} violations)`)
  }
  console.log('')
  const summary = report(results)
  return { results, summary }
}

await runBenchCli(import.meta.url, SCENARIOS, measure, main)

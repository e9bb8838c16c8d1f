// Start-up benchmark: time from start to every shard ready, for real discord.js v14 bots against the
// local gateway simulator with the real 5000 ms identify window, compared with the physical floor
// (ceil(N/C)-1) × 5000 ms, with the floor plus the boot time of one instance (measured in the same run:
// one instance running shard 0 of the same bot, start → ready), with the floor plus the first round of
// the one-shard-per-instance layouts booting together (C instances on the same cores: on a 2-vCPU
// machine that takes about twice one boot), and with discord.js's own ShardingManager on the same
// simulator. The simulator runs in a process of its own (bench/sim-process.mjs), like Discord's gateway.
//
//   npm run build && node bench/startup.mjs            every scenario (about 6 minutes)
//   node bench/startup.mjs --only ours-boot-processes,ours-unmodified-processes-16x4-1pi
//   node bench/startup.mjs --verbose                   also show each scenario's output
//   node bench/startup.mjs --scenario <name>           one scenario in this process (used by the runner)
//   BENCH_TIMELINE=1 node bench/startup.mjs --only <name> --verbose
//                                                      also print every spawn, identify grant and ready
//   BENCH_EXECARGV='--semi-space-growth-factor=2' node bench/startup.mjs --only <names>
//                                                      node flags for our managers' instances (a young-
//                                                      generation flag replaces our default one)
//   BENCH_OPTIONS='{"holdOptimizerDuringImports":false}' node bench/startup.mjs --only <names>
//                                                      options for our managers (a JSON object)
import { fileURLToPath } from 'node:url'
import { ShardingManager } from '../dist/index.js'
import { benchExecArgv, benchOptions, load, machine, OPTED_IN_BOT, randomToken, ratio, runBenchCli, runScenarioStable, secs, sleep, startSimulatorProcess, table, UNMODIFIED_BOT, within } from './lib.mjs'

const WINDOW_MS = 5000
const GUILDS = 1000
const SCRIPT = fileURLToPath(import.meta.url)

const ours = (name, bot, mode, shards, concurrency, perInstance, extra = {}) => ({ name, manager: 'ours', bot, mode, shards, concurrency, perInstance, ...extra })

/**
 * Every scenario: who manages the shards, which bot, N shards, max_concurrency C, shards per instance.
 * `role: 'boot'` measures one instance (shard 0 of an N-shard bot); `role: 'first-round'` measures the
 * first round of the 1-per-instance layouts alone (shards 0..C-1, one instance each, booting together on
 * the same cores: the part of the start that no scheduler can shorten); `role: 'resume'` kills an instance
 * once everything is ready and measures its way back; `adapt: false` opts the bot out (key-aware waves).
 */
export const SCENARIOS = [
  ours('ours-boot-processes', 'unmodified', 'processes', 16, 4, 1, { role: 'boot' }),
  ours('ours-boot-workers', 'unmodified', 'workers', 16, 4, 1, { role: 'boot' }),
  ours('ours-first-round-processes', 'unmodified', 'processes', 16, 4, 1, { role: 'first-round' }),
  ours('ours-first-round-workers', 'unmodified', 'workers', 16, 4, 1, { role: 'first-round' }),
  ours('ours-unmodified-processes-16x4-1pi', 'unmodified', 'processes', 16, 4, 1),
  ours('ours-unmodified-processes-16x4-4pi', 'unmodified', 'processes', 16, 4, 4),
  ours('ours-unmodified-workers-16x4-1pi', 'unmodified', 'workers', 16, 4, 1),
  ours('ours-unmodified-workers-16x4-4pi', 'unmodified', 'workers', 16, 4, 4),
  ours('ours-opted-in-processes-16x4', 'opted-in', 'processes', 16, 4, 4),
  ours('ours-opted-in-workers-16x4', 'opted-in', 'workers', 16, 4, 4),
  ours('ours-waves-processes-16x4-1pi', 'unmodified', 'processes', 16, 4, 1, { adapt: false }),
  // One shard per process whose first round (C = 2 boots) fits the two cores of the machine this was
  // measured on: the same floor as 16x4 (3 windows), so what the 16x4 layout loses is its first round.
  ours('ours-unmodified-processes-8x2-1pi', 'unmodified', 'processes', 8, 2, 1),
  { name: 'djs-process-16x4', manager: 'discord.js', bot: 'unmodified', mode: 'process', shards: 16, concurrency: 4, perInstance: 1 },
  ours('ours-unmodified-processes-4x1', 'unmodified', 'processes', 4, 1, 1),
  ours('ours-unmodified-workers-4x1', 'unmodified', 'workers', 4, 1, 1),
  ours('ours-opted-in-processes-4x1', 'opted-in', 'processes', 4, 1, 1),
  ours('ours-opted-in-workers-4x1', 'opted-in', 'workers', 4, 1, 1),
  { name: 'djs-process-4x1', manager: 'discord.js', bot: 'unmodified', mode: 'process', shards: 4, concurrency: 1, perInstance: 1 },
  ours('ours-unmodified-processes-resume', 'unmodified', 'processes', 4, 4, 1, { role: 'resume' }),
  ours('ours-unmodified-workers-resume', 'unmodified', 'workers', 4, 4, 1, { role: 'resume' }),
]

export const floorMs = (n, c, windowMs = WINDOW_MS) => (Math.ceil(n / c) - 1) * windowMs

/** The boot scenario of a mode. */
const bootOf = (mode) => `ours-boot-${mode}`

/** Runs one scenario in this process; resolves with its measurements. */
async function measure(s) {
  const token = randomToken()
  const sim = await startSimulatorProcess({ token, guilds: GUILDS, maxConcurrency: s.concurrency, windowMs: WINDOW_MS })
  const { restUrl } = sim
  const file = s.bot === 'opted-in' ? OPTED_IN_BOT : UNMODIFIED_BOT
  let stop = async () => {}
  let readyMs
  let extra = {}
  try {
    if (s.manager === 'ours') {
      const manager = new ShardingManager({
        file,
        mode: s.mode,
        // a boot scenario runs shard 0 of the same N-shard bot (same guilds per shard)
        shards: s.role === 'boot' ? [0] : s.role === 'first-round' ? Array.from({ length: s.concurrency }, (_, i) => i) : s.shards,
        totalShards: s.shards,
        shardsPerInstance: s.perInstance,
        token,
        passToken: true,
        api: restUrl,
        env: { DISCORD_API_BASE: restUrl, ...(s.role === 'resume' ? { DISCORDOO_DISCORDJS_RESUME: '1' } : {}) },
        identify: { windowMs: WINDOW_MS }, // + the default 250 ms margin
        respawn: s.role === 'resume',
        restarts: { baseDelay: 0, maxDelay: 0 },
        ...(s.adapt === false ? { adaptDiscordJs: false } : {}),
        ...benchExecArgv(), // a young-generation flag there replaces our default one
        ...benchOptions(),
      })
      const deaths = [] // instances that died before every shard was ready (none expected)
      let started = false
      manager.on('instanceDeath', (i) => started || deaths.push(`instance ${i.id}: ${i.reason?.message ?? i.code}`))
      manager.on('error', (e) => console.error('[manager error]', e.message))
      manager.on('debug', (line) => /start gate|not adapted|adaptation is off/.test(line) && console.log('[debug]', line))
      stop = () => manager.stop()
      const t0 = performance.now()
      if (process.env.BENCH_TIMELINE) {
        const at = () => `${((performance.now() - t0) / 1000).toFixed(2)}s`
        manager.on('instanceSpawn', (i) => console.log(at(), 'spawn', i.id, i.shards.join(',')))
        manager.on('identifyGrant', (g) => console.log(at(), 'grant', g.shardId, 'key', g.key))
        manager.on('shardReady', (id) => console.log(at(), 'ready', typeof id === 'object' ? id.id ?? JSON.stringify(id) : id))
        manager.on('instanceReady', (i) => console.log(at(), 'instanceReady', i.id))
      }
      await within(manager.start(), 170_000, 'manager.start() did not resolve in 170 s')
      readyMs = performance.now() - t0
      started = true
      const status = manager.status()
      extra = { strategy: status.identify?.strategy, granted: status.identify?.granted, deaths }
      if (s.role === 'resume') extra.resume = await killAndResume(manager, sim)
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
    const stats = await sim.stats()
    // Let the bots' own ready-time requests (the example bot calls fetchClientValues on 'clientReady')
    // settle before stopping: discord.js's manager throws (uncaught TypeError in Shard.send) when it
    // answers a shard it has just killed.
    await sleep(1000)
    const accepted = stats.identifies.filter((i) => i.outcome === 'accepted')
    return {
      ...s,
      readyMs,
      floorMs: s.role === 'boot' || s.role === 'first-round' ? 0 : floorMs(s.shards, s.concurrency),
      identifies: stats.identifyCount,
      violations: stats.violations.length,
      violationDetail: stats.violations.slice(0, 5),
      duplicates: stats.sessions.duplicates.length,
      liveSessions: Object.keys(stats.sessions.byShard).length,
      // REST /gateway/bot requests the simulator answered (the manager's and every instance's own)
      gatewayBotAsks: stats.rest['/gateway/bot'] ?? 0,
      // first and last accepted IDENTIFY relative to the first one
      identifySpanMs: accepted.length ? accepted.at(-1).at - accepted[0].at : null,
      ...extra,
    }
  } finally {
    await within(stop(), 20_000, 'stop timed out').catch((e) => console.error(e.message))
    await sim.stop()
  }
}

/** Kills instance 1 (SIGKILL in processes, process.exit in a worker) and waits until it is ready again. */
async function killAndResume(manager, sim) {
  await sleep(1500) // sessions reach the manager within a second of their last update
  const before = await sim.stats()
  const victim = manager.status().machines[0].instances[1]
  const back = new Promise((resolve) => manager.on('instanceReady', (i) => i.id === 1 && resolve()))
  const t0 = performance.now()
  if (manager.status().mode === 'workers') await manager.broadcastEval(() => void setTimeout(() => process.exit(1), 0), { instance: 1 })
  else process.kill(victim.pid, 'SIGKILL')
  await within(back, 60_000, 'the killed instance was not ready again within 60 s')
  const backMs = performance.now() - t0
  const ready = await manager.broadcastEval((c) => c.isReady(), { instance: 1 })
  const after = await sim.stats()
  return { backMs, resumes: after.resumes - before.resumes, identifies: after.identifyCount - before.identifyCount, ready, shards: victim.shards.length }
}

function report(results) {
  const byName = Object.fromEntries(results.filter((r) => !r.error).map((r) => [r.name, r]))
  const bootMs = (r) => byName[bootOf(r.mode)]?.readyMs
  // the first round of a 1-per-instance layout, measured alone (same N, C and mode)
  const firstRoundMs = (r) => (r.perInstance === 1 && r.shards === 16 && r.concurrency === 4 ? byName[`ours-first-round-${r.mode}`]?.readyMs : undefined)
  const rows = results.map((r) => {
    if (r.error) return [r.name, r.bot, r.mode, `${r.shards}`, `${r.concurrency}`, 'FAILED', '', '', '', '', '', '', r.load, r.error.split('\n')[0]]
    const boot = r.manager === 'ours' && !r.role ? bootMs(r) : undefined
    const firstRound = r.manager === 'ours' && !r.role ? firstRoundMs(r) : undefined
    return [
      r.name,
      r.adapt === false ? 'unmodified, opted out' : r.bot,
      r.mode,
      `${r.shards}`,
      `${r.concurrency}`,
      secs(r.readyMs),
      secs(r.floorMs),
      r.floorMs > 0 ? ratio(r.readyMs, r.floorMs) : '—',
      boot !== undefined && r.floorMs > 0 ? ratio(r.readyMs, r.floorMs + boot) : '—',
      firstRound !== undefined && r.floorMs > 0 ? ratio(r.readyMs, r.floorMs + firstRound) : '—',
      `${r.violations}`,
      `${r.duplicates}`,
      `${r.gatewayBotAsks ?? '?'}`,
      r.load,
      r.manager === 'ours' ? `${r.role === 'boot' ? 'shard 0 alone' : r.role === 'first-round' ? `shards 0-${r.concurrency - 1}, 1/instance` : `${r.perInstance}/instance`}, ${r.strategy}` : `1/process, delay ${r.delayMs} ms`,
    ]
  })
  console.log(
    table(['scenario', 'bot', 'mode', 'N', 'C', 'start → all ready', 'floor', 'ready / floor', 'ready / (floor + boot)', 'ready / (floor + first round)', 'violations', 'dup. sessions', '/gateway/bot asks', 'load', 'layout'], rows),
  )

  const resumes = results.filter((r) => r.resume)
  if (resumes.length) {
    console.log('\nkilled instance of an unmodified bot (DISCORDOO_DISCORDJS_RESUME=1):')
    console.log(
      table(
        ['scenario', 'kill → ready again', 'shards', 'RESUMEs', 'IDENTIFYs', 'client ready', 'violations', 'dup. sessions'],
        resumes.map((r) => [r.name, secs(r.resume.backMs), `${r.resume.shards}`, `${r.resume.resumes}`, `${r.resume.identifies}`, `${r.resume.ready}`, `${r.violations}`, `${r.duplicates}`]),
      ),
    )
  }

  // discord.js's manager on the same N and C, where the run has it
  const djs = (r) => `djs-process-${r.shards}x${r.concurrency}`
  const pairs = results
    .filter((r) => !r.error && r.manager === 'ours' && !r.role && byName[djs(r)])
    .map((r) => ({ ours: r.name, theirs: djs(r), ratio: r.readyMs / byName[djs(r)].readyMs }))
  if (pairs.length) {
    console.log('\nours / discord.js ShardingManager (same simulator, same N and C; < 1 is faster):')
    console.log(table(['ours', 'discord.js', 'ours', 'theirs', 'ours / theirs'], pairs.map((p) => [p.ours, p.theirs, secs(byName[p.ours].readyMs), secs(byName[p.theirs].readyMs), ratio(byName[p.ours].readyMs, byName[p.theirs].readyMs)])))
  }
  // The target: unmodified bots within 1.10 × (floor + the boot of one instance).
  const targets = results
    .filter((r) => !r.error && r.manager === 'ours' && !r.role && r.floorMs > 0 && bootMs(r) !== undefined)
    .map((r) => ({ ours: r.name, theirs: `floor + boot (${secs(bootMs(r))})`, ratio: r.readyMs / (r.floorMs + bootMs(r)) }))
  // What scheduling adds once the first round has booted: 1-per-instance layouts against floor + that round.
  const afterFirstRound = results
    .filter((r) => !r.error && r.manager === 'ours' && !r.role && r.floorMs > 0 && firstRoundMs(r) !== undefined)
    .map((r) => ({ ours: r.name, theirs: `floor + first round (${secs(firstRoundMs(r))})`, ratio: r.readyMs / (r.floorMs + firstRoundMs(r)) }))
  return { rows, pairs: [...pairs, ...targets, ...afterFirstRound] }
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
    const loadBefore = load()
    const r = await runScenarioStable(SCRIPT, s.name, { timeoutMs: 200_000, verbose })
    const result = { ...s, ...r, load: `${loadBefore}–${load()}` }
    delete result.output
    results.push(result)
    const resume = result.resume ? `; killed instance back in ${secs(result.resume.backMs)}, ${result.resume.resumes} resumes, ${result.resume.identifies} identifies` : ''
    console.log(result.error ? `FAILED: ${result.error}` : `${secs(result.readyMs)} (floor ${secs(result.floorMs)}, ${result.violations} violations${resume})`)
  }
  console.log('')
  const summary = report(results)
  return { results, summary }
}

await runBenchCli(import.meta.url, SCENARIOS, measure, main)

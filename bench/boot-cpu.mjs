// What booting costs each instance: N instances of the unmodified discord.js bot (one shard each) start
// together against the simulator, and each reports its own CPU time (`process.cpuUsage()`, every thread
// of the process) once ready, with the wall time from start() to all ready. On a machine with fewer
// cores than N, the wall time follows the sum of the CPU times (BENCHMARKS.md, "Instance boot").
//
//   npm run build && node bench/boot-cpu.mjs [--instances 4] [--guilds 1000] [--mode processes|workers]
//   BENCH_OPTIONS='{"semiSpaceGrowthFactor":null}' node bench/boot-cpu.mjs   (options for the manager)
// In WORKERS mode the figure is the whole process's CPU (the manager's thread included), read by each worker.
import { ShardingManager } from '../dist/index.js'
import { arg, benchExecArgv, benchOptions, randomToken, startSimulatorProcess, UNMODIFIED_BOT } from './lib.mjs'

const instances = Number(arg('instances', '4'))
const guilds = Number(arg('guilds', '1000'))
const mode = arg('mode', 'processes')
if (!(instances >= 1) || !(guilds >= 1) || !['processes', 'workers'].includes(mode)) {
  console.error('usage: node bench/boot-cpu.mjs [--instances N] [--guilds N] [--mode processes|workers]')
  process.exit(2)
}
const options = { ...benchExecArgv(), ...benchOptions() } // before anything starts: a bad BENCH_OPTIONS stops here
const token = randomToken()
const sim = await startSimulatorProcess({ token, guilds, maxConcurrency: instances })
const manager = new ShardingManager({
  file: UNMODIFIED_BOT,
  mode,
  shards: instances,
  shardsPerInstance: 1,
  token,
  passToken: true,
  api: sim.restUrl,
  env: { DISCORD_API_BASE: sim.restUrl, DISCORD_TOKEN: token },
  respawn: false,
  ...options,
})
try {
  const t0 = performance.now()
  await manager.start()
  const wall = performance.now() - t0
  const cpu = (await manager.broadcastEval(() => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1000
  })).map(Number)
  const mean = cpu.reduce((a, b) => a + b, 0) / cpu.length
  console.log(`${mode}, ${instances} instances, ${guilds} guilds: all ready in ${(wall / 1000).toFixed(2)} s; CPU per instance at ready ${mean.toFixed(0)} ms (${cpu.map((c) => c.toFixed(0)).join(' ')})`)
} finally {
  await manager.stop()
  await sim.stop()
}

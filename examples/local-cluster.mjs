// Starts 8 shards, 2 per instance, in PROCESSES and then WORKERS mode; runs a broadcastEval,
// respawns one instance and stops. Prints spawn-to-ready time and memory per instance.
//   npm run build && node examples/local-cluster.mjs
import { ShardingManager, ShardingManagerModes } from 'discordoo-sharding'

const file = new URL('./bots/minimal-bot.mjs', import.meta.url).pathname
const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`

for (const mode of [ShardingManagerModes.PROCESSES, ShardingManagerModes.WORKERS]) {
  const manager = new ShardingManager({
    file,
    mode,
    shards: 8,
    shardsPerInstance: 2,
    // No real gateway here, so a short identify window keeps the demo quick; Discord's is 5000 ms.
    identify: { maxConcurrency: 4, windowMs: 500 },
  })
  manager.on('instanceReady', (i) => console.log(`  instance ${i.id} ready (shards ${i.shards.join(',')})`))

  const t0 = performance.now()
  await manager.start()
  const readyMs = performance.now() - t0
  console.log(`${mode}: 8 shards in 4 instances ready in ${readyMs.toFixed(0)} ms`)

  const shardLists = await manager.broadcastEval((sharding) => sharding.shards)
  console.log('  broadcastEval →', JSON.stringify(shardLists))

  // heartbeat answers carry memory figures
  await new Promise((r) => setTimeout(r, 200))
  for (const i of manager.status().machines[0].instances) {
    console.log(`  instance ${i.id}: ${i.pid === process.pid ? `thread ${i.threadId}` : `pid ${i.pid}`}, rss ${i.memory ? mb(i.memory.rss) : '?'}, heap ${i.memory ? mb(i.memory.heapUsed) : '?'}`)
  }

  const t1 = performance.now()
  await manager.respawn(1)
  console.log(`  respawned instance 1 in ${(performance.now() - t1).toFixed(0)} ms`)

  await manager.stop()
  console.log(`  stopped; states: ${manager.status().machines[0].instances.map((i) => i.state).join(', ')}`)
}

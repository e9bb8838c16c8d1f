// A plain script that awaits an instance's respawn: Node exits with code 13 (unsettled top-level
// await) during the backoff, because the manager's timers are unref'd and nothing else holds the
// process. While the manager has instances or pending respawns it must keep its process alive.
//   node bench/chaos/repro/respawn-exits-node.mjs
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

if (process.argv[2] === '--inner') {
  const { ShardingManager } = await import('../../../dist/index.js')
  const { writeFileSync } = await import('node:fs')
  const bot = process.argv[3]
  writeFileSync(bot, `const { ShardingClient } = await import(${JSON.stringify(fileURLToPath(new URL('../../../dist/client.js', import.meta.url)))})\nShardingClient.fromEnvironment().ready()\n`)
  const manager = new ShardingManager({ file: bot, mode: 'processes', shards: 1, restarts: { baseDelay: 500, maxDelay: 500 } })
  manager.on('error', () => {})
  await manager.start()
  process.kill(manager.status().machines[0].instances[0].pid, 'SIGKILL')
  await new Promise((r) => manager.once('instanceReady', r))
  await manager.stop()
  console.log('respawned and stopped')
} else {
  const bot = `/tmp/dsm-repro-bot-${process.pid}.mjs`
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--inner', bot], { encoding: 'utf8', timeout: 60_000 })
  spawnSync('rm', ['-f', bot])
  const ok = r.status === 0 && r.stdout.includes('respawned and stopped')
  console.log(`${ok ? 'ok  ' : 'BUG '} a script awaiting an instance's respawn sees it come back and exits 0 — saw: exit ${r.status}${r.stdout.trim() ? `, ${r.stdout.trim()}` : ''}`)
  process.exit(ok ? 0 : 1)
}

// A manager whose process has no free file descriptor left, so every fork fails with EMFILE.
// Prints one JSON line with what it saw, then must exit by itself (no timer, no process.exit).
import { openSync } from 'node:fs'
import { ShardingManager } from '../../dist/index.js'

const manager = new ShardingManager({
  file: new URL('../fixtures/basic-client.mjs', import.meta.url).pathname,
  mode: 'processes',
  shards: 1,
  shardsPerInstance: 1,
  identify: { windowMs: 50, marginMs: 0 },
  restarts: { max: 2, interval: 60_000, baseDelay: 20, maxDelay: 50 },
})
const seen = []
manager.on('error', (e) => seen.push({ event: 'error', code: e.code, message: e.message }))
manager.on('instanceSpawn', (i) => seen.push({ event: 'instanceSpawn', pid: i.pid }))
manager.on('instanceDeath', (i) => seen.push({ event: 'instanceDeath', reason: i.reason }))
manager.on('instanceRespawn', () => seen.push({ event: 'instanceRespawn' }))
manager.on('instanceGaveUp', (i) => seen.push({ event: 'instanceGaveUp', reason: i.reason }))

// Everything the manager needs is loaded; now take every descriptor the limit still allows.
const held = []
try {
  for (;;) held.push(openSync('/dev/null', 'r'))
} catch (err) {
  if (err.code !== 'EMFILE') throw err
}

let start
try {
  await manager.start()
  start = { ok: true }
} catch (err) {
  start = { ok: false, code: err.code, message: err.message }
}
const state = manager.status().machines[0].instances.map((i) => i.state)
await manager.stop()
console.log(JSON.stringify({ held: held.length, start, state, seen, stopped: true }))

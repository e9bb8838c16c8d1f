// PROCESSES mode grows the manager's own young generation faster while its instance processes run
// (src/modes/manager-young-generation.ts). V8's flags cannot be read back, so this records what is set
// through `v8.setFlagsFromString` (the library imports it as a named export: synced below). A plain
// child process, because the flag is the whole process's. Prints one JSON line, then exits by itself.
import { syncBuiltinESMExports } from 'node:module'
import v8 from 'node:v8'

const set = []
const real = v8.setFlagsFromString
v8.setFlagsFromString = (flags) => {
  if (flags.includes('semi-space')) set.push(flags)
  return real(flags)
}
syncBuiltinESMExports()
const { ShardingManager } = await import('../../dist/index.js')

const fixture = (name) => new URL(`../fixtures/${name}`, import.meta.url).pathname

async function run(options = {}) {
  const m = new ShardingManager({ file: fixture('basic-client.mjs'), mode: 'processes', shards: 2, shardsPerInstance: 1, respawn: false, identify: { windowMs: 100, marginMs: 0 }, ...options })
  m.on('error', () => {})
  const debug = []
  m.on('debug', (line) => line.includes('young generation') && debug.push(line))
  let atSpawn = null
  m.once('instanceSpawn', () => (atSpawn = [...set]))
  await m.start()
  const whileRunning = [...set]
  const evals = await m.broadcastEval(() => 1)
  await m.stop()
  return { atSpawn, whileRunning, evals, afterStop: set.splice(0), debug }
}

const out = { on: await run(), off: await run({ managerSemiSpaceGrowthFactor: null }), workers: await run({ mode: 'workers' }) }
console.log(JSON.stringify(out))

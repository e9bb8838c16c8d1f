// WORKERS mode switches V8's early optimization of small functions off while its workers run
// (src/modes/early-optimization.ts). V8's flags cannot be read back, so this records what is set
// through `v8.setFlagsFromString` (the library imports it as a named export: synced below). A plain
// child process, because the flag is the whole process's. Prints one JSON line, then exits by itself.
import { syncBuiltinESMExports } from 'node:module'
import v8 from 'node:v8'

const set = []
const real = v8.setFlagsFromString
v8.setFlagsFromString = (flags) => {
  if (flags.includes('early-opt')) set.push(flags)
  return real(flags)
}
syncBuiltinESMExports()
const { ShardingManager } = await import('../../dist/index.js')

const fixture = (name) => new URL(`../fixtures/${name}`, import.meta.url).pathname

async function run(options = {}) {
  const m = new ShardingManager({ file: fixture('basic-client.mjs'), mode: 'workers', shards: 2, shardsPerInstance: 1, respawn: false, identify: { windowMs: 100, marginMs: 0 }, ...options })
  m.on('error', () => {})
  const debug = []
  m.on('debug', (line) => line.includes('early optimization') && debug.push(line))
  // what is set when each worker starts booting (V8's default: Node's code cache needs it)
  const atSpawn = []
  m.on('instanceSpawn', () => atSpawn.push(set.at(-1) ?? 'default'))
  await m.start()
  const whileRunning = [...set]
  await m.stop()
  return { atSpawn, whileRunning, afterStop: set.splice(0), debug }
}

const out = { on: await run(), off: await run({ deferSmallFunctionOptimization: false }) }
console.log(JSON.stringify(out))

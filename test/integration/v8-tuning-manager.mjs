// A manager with one PROCESSES instance whose Node reports its built-in code cache
// (NODE_DEBUG_NATIVE=CODE_CACHE, on stderr, which the instance shares with this script). Prints one JSON
// line: the instance's `debug` lines about V8 flags and the process's execArgv; exits by itself.
import { ShardingManager } from '../../dist/index.js'

const options = JSON.parse(process.argv[2] ?? '{}')
const manager = new ShardingManager({
  file: new URL('../fixtures/basic-client.mjs', import.meta.url).pathname,
  mode: 'processes',
  shards: 1,
  respawn: false,
  identify: { windowMs: 100, marginMs: 0 },
  env: { NODE_DEBUG_NATIVE: 'CODE_CACHE' },
  ...options,
})
const debug = []
manager.on('debug', (line) => line.includes('V8 flags') && debug.push(line))
await manager.start()
const [execArgv] = await manager.broadcastEval(() => process.execArgv)
await manager.stop()
console.log(JSON.stringify({ debug, execArgv }))

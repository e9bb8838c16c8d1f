// WORKERS mode shares one optimizer hold across the process (src/runtime/optimizer-hold.ts). Run with
// `node --allow-natives-syntax` (V8's flags are the process's, so the worker threads get it too);
// prints one JSON line with what it saw, then exits by itself.
import { ShardingManager } from '../../dist/index.js'

const fixture = (name) => new URL(`../fixtures/${name}`, import.meta.url).pathname

/**
 * Whether V8 may optimize a function on this thread now (see test/fixtures/optimizer-hold-client.mjs).
 * A new function each time: a closure from the same source position would reuse optimized code.
 */
function optimizable() {
  const f = new Function('a', 'return a + 1');
  %PrepareFunctionForOptimization(f); f(1); f(2); %OptimizeFunctionOnNextCall(f); f(3);
  return (%GetOptimizationStatus(f) & 16) !== 0;
}

function manager(file, options = {}) {
  const m = new ShardingManager({ file: fixture(file), mode: 'workers', shards: 1, respawn: false, identify: { windowMs: 100, marginMs: 0 }, ...options })
  m.on('error', () => {})
  return m
}

/** The probing client: may its worker optimize before and after its first CommonJS load? */
async function probe(options) {
  const m = manager('optimizer-hold-client.mjs', options)
  const held = []
  m.on('debug', (line) => line.includes('optimizing compiler was held') && held.push(line))
  await m.start()
  const [result] = await m.broadcastEval(() => globalThis.probe)
  const managerAfter = optimizable()
  await m.stop()
  return { result, held: held.length, managerAfter }
}

const out = { on: await probe({}), off: await probe({ holdOptimizerDuringImports: false }) }

// A worker that dies before giving its share back: the manager's own thread is held from the spawn
// (the share is taken before the worker runs) until the worker's exit gives it back.
const dying = manager('optimizer-hold-throws.mjs', { timeouts: { ready: 30_000 } })
out.dies = await new Promise((resolve) => {
  const seen = {}
  dying.on('instanceSpawn', () => void (seen.managerAtSpawn = optimizable()))
  dying.on('instanceDeath', () => {
    seen.managerAfterDeath = optimizable()
    resolve(seen)
  })
  dying.start().catch(() => {})
})
await dying.stop()
console.log(JSON.stringify(out))

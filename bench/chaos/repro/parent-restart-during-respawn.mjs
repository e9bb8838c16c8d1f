// The parent crashes while one instance is coming back from a crash (its respawn waits for a start
// slot or identify turn from the parent). A new parent re-adopts the child and its start() resolves,
// but that instance can stay `queued` for good: the bot never gets back to all-ready. Tries a few
// delays between the instance crash and the parent crash.
//   node bench/chaos/repro/parent-restart-during-respawn.mjs
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ParentHandle } from '../parent.mjs'
import { dir, expectThat, finish, machines, onCleanup, sleep, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `for (const id of sharding.shards) { await sharding.waitForIdentify(id); sharding.reportShard(id, 'ready') }`)
// The shared helper builds the options; the parent runs in its own process so it can be SIGKILLed.
const { parentOptions } = await machines({ bot: bot.file, shards: 4, perInstance: 2, proxy: false, options: { timeouts: { heartbeatInterval: 500 }, restarts: { max: 1000, baseDelay: 50, maxDelay: 200 } } })
const optionsFile = join(dir, 'parent.json')
writeFileSync(optionsFile, JSON.stringify(parentOptions))

let generation = 1
let parent = new ParentHandle(generation, optionsFile)
onCleanup(() => parent.stop(10_000).then(() => parent.kill('SIGKILL')))
await new Promise((r) => parent.once('started', r))
for (const delay of [0, 50, 100, 200, 300, 400, 600]) {
  const victim = (await parent.status()).machines[0].instances[1]
  process.kill(victim.pid, 'SIGKILL')
  await sleep(delay)
  parent.kill('SIGKILL')
  await parent.exitedPromise
  parent = new ParentHandle(++generation, optionsFile)
  const started = await Promise.race([new Promise((r) => parent.once('started', () => r(true))), sleep(20_000).then(() => false)])
  let states = []
  for (let i = 0; i < 30; i++) {
    states = (await parent.status())?.machines[0].instances.map((i) => i.state) ?? []
    if (states.length && states.every((s) => s === 'ready')) break
    await sleep(500)
  }
  expectThat(started && states.every((s) => s === 'ready'), `instance crash, parent crash ${delay} ms later: the new parent's start() resolves and within 15 s every instance is ready`, `start() ${started ? 'resolved' : 'pending after 20 s'}, states ${JSON.stringify(states)}`)
  if (!states.every((s) => s === 'ready')) break
}
await finish()

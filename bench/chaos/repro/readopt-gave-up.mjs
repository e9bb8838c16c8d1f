// One instance has given up (its restart budget is spent) when the parent crashes. The new parent
// re-adopts the child: its start() never settles (the README: start() "rejects if an instance gives
// up"), so a supervisor that restarts the parent waits forever.
//   node bench/chaos/repro/readopt-gave-up.mjs
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ParentHandle } from '../parent.mjs'
import { dir, expectThat, finish, machines, onCleanup, sleep, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `for (const id of sharding.shards) sharding.reportShard(id, 'ready')`)
const { parentOptions } = await machines({ bot: bot.file, shards: 2, perInstance: 1, proxy: false, options: { restarts: { max: 1, interval: 600_000, baseDelay: 50, maxDelay: 100 } } })
const optionsFile = join(dir, 'parent.json')
writeFileSync(optionsFile, JSON.stringify(parentOptions))
let parent = new ParentHandle(1, optionsFile)
onCleanup(() => parent.stop(10_000).then(() => parent.kill('SIGKILL')))
await new Promise((r) => parent.once('started', r))
for (let i = 0; i < 2; i++) {
  const victim = (await parent.status()).machines[0].instances[1]
  if (victim.pid) process.kill(victim.pid, 'SIGKILL')
  await sleep(1500)
}
const before = (await parent.status()).machines[0].instances.map((i) => i.state)
parent.kill('SIGKILL')
await parent.exitedPromise
parent = new ParentHandle(2, optionsFile)
const outcome = await Promise.race([
  new Promise((r) => parent.once('started', () => r('resolved'))),
  new Promise((r) => parent.once('startFailed', (m) => r(`rejected ${m.error?.code}`))),
  sleep(20_000).then(() => 'pending after 20 s'),
])
expectThat(outcome.startsWith('rejected'), `states ${JSON.stringify(before)} before the parent crash: the new parent's start() rejects`, `start() ${outcome}`)
await finish()

// One instance is coming back from a crash when its machine's link is cut for 2 s. The other
// instances on that machine must keep running (the README: "if its link to a child drops, that
// child's shards keep running"). Seen in a chaos run on main d7fe2d1: every instance of the machine
// was restarted.
//   node bench/chaos/repro/cut-during-respawn.mjs
import { alive, expectThat, finish, machines, sleep, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `for (const id of sharding.shards) { await sharding.waitForIdentify(id); sharding.reportShard(id, 'ready') }`)
const { parent, proxy } = await machines({ bot: bot.file, shards: 3, perInstance: 1, options: { restarts: { max: 1000, baseDelay: 50, maxDelay: 200 }, timeouts: { heartbeatInterval: 500 } } })
await parent.start()
for (const delay of [0, 100, 300, 600]) {
  const pids = parent.status().machines[0].instances.map((i) => i.pid)
  process.kill(pids[2], 'SIGKILL')
  await sleep(delay)
  proxy.cut('reset')
  await sleep(2000)
  proxy.restore()
  const end = Date.now() + 20_000
  while (Date.now() < end && !parent.status().machines[0].instances.every((i) => i.state === 'ready' && i.pid && i.pid !== pids[2])) await sleep(200)
  const after = parent.status().machines[0].instances.map((i) => i.pid)
  expectThat(pids.slice(0, 2).every(alive) && after[0] === pids[0] && after[1] === pids[1], `instance 2 killed, link cut ${delay} ms later for 2 s: instances 0 and 1 keep their processes`, `pids before ${pids.join(',')}, after ${after.join(',')}; states ${parent.status().machines[0].instances.map((i) => i.state).join(',')}`)
}
await finish()

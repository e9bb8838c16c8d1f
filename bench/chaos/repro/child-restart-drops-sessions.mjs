// A child manager crashes and comes back (systemd Restart=always): the parent still holds its
// shards' sessions, but the new child's instances are handed none, so every shard IDENTIFYs
// instead of RESUMEing (in the chaos runs: 0 of 24 shards resumed after a child crash, against
// 100% after an instance crash).
//   node bench/chaos/repro/child-restart-drops-sessions.mjs
import { expectThat, finish, machines, sleep, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `
report({ handedOver: Object.keys(sharding.sessions).map(Number) })
for (const id of sharding.shards) {
  sharding.reportSession(id, sharding.sessions[id] ?? { sessionId: 's' + id + '-' + process.pid, sequence: 1, resumeURL: 'ws://x', shardId: id, shardCount: sharding.totalShards })
  sharding.reportShard(id, 'ready')
}
`)
const { parent, child } = await machines({ bot: bot.file, shards: 2, perInstance: 2, proxy: false })
await parent.start()
await sleep(1500) // sessions reach the parent
const readyAgain = new Promise((r) => parent.once('machineReady', r))
await child.kill('SIGKILL')
await child.start()
await readyAgain
const [first, second] = bot.read()
expectThat(first?.handedOver.length === 0, 'the first instance starts with no sessions', JSON.stringify(first?.handedOver))
expectThat(second?.handedOver.join() === '0,1', "the restarted child's instance is handed shards 0 and 1's sessions", JSON.stringify(second?.handedOver ?? 'no second instance'))
await finish()

// A link is blackholed (the proxy keeps both TCP connections open but forwards nothing) for under
// a second and then restored (the proxy drops the stale connections). The parent must reconnect
// within its maxReconnectDelay (400 ms here) plus a handshake. In the chaos runs a link sometimes
// stayed down for over a minute, until the child manager was restarted.
//   node bench/chaos/repro/link-never-reconnects.mjs
import { expectThat, finish, machines, sleep, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `for (const id of sharding.shards) sharding.reportShard(id, 'ready')`)
const { parent, proxy } = await machines({ bot: bot.file, shards: 2, perInstance: 1 })
await parent.start()
const up = () => parent.status().machines[0].link?.up === true
const results = []
for (const hold of [300, 600, 900, 1200, 1500, 1800, 700, 800, 1000, 1100]) {
  proxy.cut('blackhole')
  await sleep(hold)
  proxy.restore()
  const t0 = Date.now()
  await sleep(100) // let a liveness timeout that was about to fire fire
  while (!up() && Date.now() - t0 < 15_000) await sleep(50)
  results.push({ hold, back: up() ? Date.now() - t0 : null })
  await sleep(300)
}
const stuck = results.filter((r) => r.back === null)
expectThat(stuck.length === 0, 'after every blackhole of 0.3-1.8 s the link is up again within 15 s of the restore', JSON.stringify(results))
await finish()

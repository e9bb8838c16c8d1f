// parent.stop() while the link to a child is down: the README says stop() "resolves when no instance
// is left" and stops the shards on every child. With the link cut it resolves at once and the
// child's shards keep running (they hold gateway sessions no parent knows about any more).
//   node bench/chaos/repro/stop-with-link-down.mjs
import { alive, expectThat, finish, machines, sleep, timed, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `for (const id of sharding.shards) sharding.reportShard(id, 'ready')`)
const { parent, proxy } = await machines({ bot: bot.file, shards: 2, perInstance: 1 })
await parent.start()
const pids = parent.status().machines[0].instances.map((i) => i.pid)
const down = new Promise((r) => parent.once('machineDisconnect', r))
proxy.cut('reset')
await down
const stopped = await timed(parent.stop())
await sleep(3000)
const running = pids.filter(alive)
expectThat(!(stopped.ok && running.length > 0), 'stop() does not report success while the shards it could not reach keep running (it waits for the link within a deadline, or rejects with LinkLostError)', `stop() ${stopped.ok ? 'resolved' : `rejected ${stopped.code}`} after ${stopped.ms} ms; instances ${running.join(', ')} still running 3 s later`)
proxy.restore()
await finish()

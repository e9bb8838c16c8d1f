// A broadcastEval to a healthy instance, with timeout T, made while another instance on the same
// machine has a blocked event loop: does it settle within T + 1 s?
//   node bench/chaos/repro/late-timeout-while-hung.mjs
import { expectThat, finish, machines, sleep, timed, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `
process.on('SIGUSR2', () => { const end = Date.now() + 20_000; while (Date.now() < end); })
for (const id of sharding.shards) sharding.reportShard(id, 'ready')
`)
const { parent } = await machines({ bot: bot.file, shards: 2, perInstance: 1, options: { timeouts: { heartbeatInterval: 500, heartbeat: 5000 } } })
await parent.start()
const [hungPid] = parent.status().machines[0].instances.filter((i) => i.id === 1).map((i) => i.pid)
process.kill(hungPid, 'SIGUSR2')
await sleep(200)
const slow = (_c, ctx) => new Promise((r) => setTimeout(r, ctx.ms))
const results = await Promise.all([1, 2, 3].map(async (k) => { await sleep(k * 700); return timed(parent.broadcastEval(slow, { instance: 0, timeout: 2000, context: { ms: 5000 } })) }))
for (const r of results) expectThat(r.code === 'TIMEOUT' && r.ms <= 3000, 'eval on the healthy instance 0 (timeout 2000 ms) ends with TIMEOUT within 3000 ms', `${r.code} after ${r.ms} ms`)
await finish()

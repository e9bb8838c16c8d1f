// Calls with a 1000 ms timeout while a machine link is blackholed (packets dropped, no reset):
// each must settle within 2000 ms. Every hop adds its own padding instead (parent → machine +2000,
// machine → parent timeouts.request + 1000), and ShardingClient.send() has no timeout at all.
//   node bench/chaos/repro/deadlines-padded.mjs
import { expectThat, finish, machines, sleep, timed, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `
sharding.on('message', async (m) => {
  if (m !== 'go') return
  await new Promise((r) => setTimeout(r, 500)) // by then the link is blackholed
  const t = async (name, p) => { const t0 = Date.now(); try { await p; report({ name, ok: true, ms: Date.now() - t0 }) } catch (e) { report({ name, code: e.code, ms: Date.now() - t0 }) } }
  await Promise.all([
    t('instance: sharding.send(x, { shard: 1, timeout: 1000 })', sharding.send('x', { shard: 1, timeout: 1000 })),
    t('instance: sharding.request(x, { timeout: 1000 }) to the manager', sharding.request('x', { timeout: 1000 })),
    t('instance: sharding.broadcastEval(fn, { timeout: 1000 })', sharding.broadcastEval(() => 1, { timeout: 1000 })),
  ])
})
sharding.on('request', (req) => req.reply('pong'))
for (const id of sharding.shards) sharding.reportShard(id, 'ready')
`)
// timeouts.request 5000 (default 30000) only to keep the run short.
const { parent, proxy } = await machines({ bot: bot.file, shards: 2, perInstance: 1, options: { timeouts: { request: 5000 } } })
parent.on('request', (req) => req.reply('pong'))
await parent.start()
await parent.send('go', { instance: 0 })
proxy.cut('blackhole')
const fromParent = await timed(parent.broadcastEval(() => 1, { timeout: 1000 }))
expectThat(fromParent.ms <= 2100, 'parent: broadcastEval(fn, { timeout: 1000 }) settles within 2000 ms', `${fromParent.code} after ${fromParent.ms} ms`)
const end = Date.now() + 40_000
while (bot.read().length < 3 && Date.now() < end) await sleep(200)
for (const r of bot.read()) expectThat(r.ms <= 2100, `${r.name} settles within 2000 ms`, `${r.ok ? 'ok' : r.code} after ${r.ms} ms`)
if (bot.read().length < 3) expectThat(false, 'every instance call settled within 40 s', `${bot.read().length} of 3`)
proxy.restore()
await finish()

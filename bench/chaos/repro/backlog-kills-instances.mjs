// A link stalls while the parent sends 25 × 2 MiB to the machine (up to the link's 64 MiB bound);
// every send fails (TIMEOUT / LINK_LOST) while the link is down, then the link heals and resumes.
// Checks (1) that the sends that failed are not delivered after all when the link session resumes,
// and (2) that the instances, healthy but busy receiving, are not killed as hung: in the chaos runs a
// machine stayed out of all-ready for up to 60 s after such a fill, its instances killed again and
// again with "answered no heartbeat ... (event loop blocked?)" (heartbeat timeout 5 s there).
//   node bench/chaos/repro/backlog-kills-instances.mjs
import { expectThat, finish, machines, sleep, timed, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `sharding.on('message', (m) => report({ got: m.n }))\nfor (const id of sharding.shards) sharding.reportShard(id, 'ready')`)
const { parent, proxy } = await machines({ bot: bot.file, shards: 3, perInstance: 1, options: { timeouts: { heartbeatInterval: 500, heartbeat: 5000 }, restarts: { max: 1000, baseDelay: 50, maxDelay: 200 } } })
await parent.start()
const deaths = []
parent.on('instanceDeath', (i) => deaths.push({ at: Date.now(), id: i.id, reason: String(i.reason ?? '').slice(0, 80) }))
proxy.stall()
const big = Buffer.alloc(2 * 1024 * 1024, 0x61)
const sends = Array.from({ length: 25 }, (_, n) => timed(parent.send({ big, n }, { machine: 'm0', timeout: 5000 })))
// Stalled until every send has settled: longer than the link's liveness timeout, so the link drops and resumes.
const results = await Promise.all(sends)
proxy.restore()
const codes = {}
for (const r of results) codes[r.ok ? 'ok' : r.code] = (codes[r.ok ? 'ok' : r.code] ?? 0) + 1
const healedAt = Date.now()
await sleep(30_000)
const states = parent.status().machines[0].instances.map((i) => i.state)
console.log(`sends: ${JSON.stringify(codes)}; instance deaths in the 30 s after the link healed: ${deaths.length}${deaths.length ? `, the last ${Math.round((deaths.at(-1).at - healedAt) / 1000)} s after (${deaths.at(-1).reason})` : ''}`)
expectThat(deaths.length === 0, 'no healthy instance is killed while it receives the backlog', `${deaths.length} deaths, states now ${states.join(',')}`)
const failed = new Set(results.map((r, n) => (r.ok ? null : n)).filter((n) => n !== null))
const lateDeliveries = bot.read().filter((r) => failed.has(r.got)).length
expectThat(lateDeliveries === 0, 'a send that rejected (its caller was told it failed) is not delivered afterwards', `${lateDeliveries} deliveries of ${failed.size} rejected sends (${JSON.stringify(codes)})`)
await finish()

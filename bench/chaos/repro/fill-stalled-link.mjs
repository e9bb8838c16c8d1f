// Large sends into a link that stopped moving (the proxy holds parent → child bytes): the README
// promises a 64 MiB queue bound that "turns overload into a BACKPRESSURE error", and every call
// must settle within its timeout + 1 s.
//   node bench/chaos/repro/fill-stalled-link.mjs
import { expectThat, finish, machines, sleep, timed, writeBot } from './lib.mjs'

const bot = writeBot('bot.mjs', `sharding.on('message', () => {})\nfor (const id of sharding.shards) sharding.reportShard(id, 'ready')`)
const { parent, proxy } = await machines({ bot: bot.file, shards: 2, perInstance: 1 })
await parent.start()

let worstBlockMs = 0
let last = performance.now()
const lag = setInterval(() => {
  worstBlockMs = Math.max(worstBlockMs, performance.now() - last - 20)
  last = performance.now()
}, 20)

proxy.stall()
const big = Buffer.alloc(2 * 1024 * 1024, 0x61)
const timeout = 3000
const t0 = Date.now()
const sends = Array.from({ length: 48 }, () => timed(parent.send({ big }, { machine: 'm0', timeout }))) // 96 MiB
const enqueueMs = Date.now() - t0
// The sends themselves block the event loop while they encode (~0.1 s per MiB here), so deadlines
// are checked from the moment the last one was queued.
const queuedAt = Date.now()
const results = await Promise.all(sends.map((p) => p.then((r) => ({ ...r, afterQueued: Date.now() - queuedAt }))))
clearInterval(lag)
proxy.restore()
const codes = {}
for (const r of results) codes[r.ok ? 'ok' : r.code] = (codes[r.ok ? 'ok' : r.code] ?? 0) + 1
const slowest = Math.max(...results.map((r) => r.afterQueued))
console.log(`48 × 2 MiB sends: enqueued in ${enqueueMs} ms; outcomes ${JSON.stringify(codes)}; last settled ${slowest} ms after all were queued; worst event-loop block ${Math.round(worstBlockMs)} ms`)
expectThat((codes.BACKPRESSURE ?? 0) > 0, 'sends beyond the 64 MiB bound fail with BACKPRESSURE', JSON.stringify(codes))
expectThat(slowest <= timeout + 1000, `every send settles within its timeout + 1 s (${timeout + 1000} ms) of being queued`, `last after ${slowest} ms`)
await sleep(500)
await finish()

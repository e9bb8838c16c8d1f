// A request or eval that reaches an instance after it was (re)spawned but before its client file
// ran (here: a bot whose imports take 2 s, like discord.js on a busy machine). The handler and the
// eval target exist, just not yet: the call should wait for them within its deadline (or fail
// with a typed "not ready" error); instead it fails at once with NO_HANDLER, or runs the function
// against `undefined`. PROCESSES mode, one machine.
//   node bench/chaos/repro/requests-before-client-loaded.mjs
import { expectThat, finish, onCleanup, ShardingManager, timed, writeBot } from './lib.mjs'

const bot = writeBot(
  'bot.mjs',
  `sharding.on('request', (req) => req.reply('pong'))\nsharding.attach({ kind: 'my bot client' })\nsharding.ready()`,
  { before: 'await new Promise((r) => setTimeout(r, 2000)) // slow imports' },
)
const manager = new ShardingManager({ file: bot.file, mode: 'processes', shards: 1, identify: { windowMs: 100, marginMs: 0 }, restarts: { baseDelay: 50, maxDelay: 100 } })
manager.on('error', () => {})
onCleanup(() => manager.stop())
await manager.start()
const spawned = new Promise((r) => manager.once('instanceSpawn', r))
process.kill(manager.status().machines[0].instances[0].pid, 'SIGKILL')
await spawned
const [request, evaluated] = await Promise.all([
  timed(manager.request('ping', { instance: 0, timeout: 5000 })),
  timed(manager.broadcastEval((c) => c.kind, { instance: 0, timeout: 5000 })),
])
expectThat(request.ok && request.value === 'pong', "request to a respawning instance (timeout 5000) gets the bot's reply", request.ok ? JSON.stringify(request.value) : `${request.code}: ${request.message}`)
expectThat(evaluated.ok && evaluated.value === 'my bot client', 'broadcastEval on a respawning instance (timeout 5000) runs against the attached client', evaluated.ok ? JSON.stringify(evaluated.value) : `${evaluated.code}: ${evaluated.message}`)
await finish()

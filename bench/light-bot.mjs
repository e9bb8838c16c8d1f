// The light client of `npm run bench:scale`: no discord.js, one raw gateway WebSocket per shard. It
// takes identify turns from the manager (waitForIdentify), IDENTIFYs, and reports the shard ready on
// READY, which is all the manager needs. BENCH_GATEWAY and BENCH_TOKEN come through the manager's `env`.
import WebSocket from 'ws'
import { ShardingClient } from '../dist/client.js'

const sharding = ShardingClient.fromEnvironment()
const gateway = process.env.BENCH_GATEWAY
const token = process.env.BENCH_TOKEN

/** Connects one shard; a connection that fails before READY is tried again, as a gateway library would. */
function connect(shardId, attempt = 0) {
  const ws = new WebSocket(`${gateway}/?v=10&encoding=json`)
  let ready = false
  let seq = null
  let heartbeat = null
  ws.on('message', async (raw) => {
    const p = JSON.parse(raw.toString())
    if (p.s !== null && p.s !== undefined) seq = p.s
    if (p.op === 10) {
      heartbeat = setInterval(() => ws.send(JSON.stringify({ op: 1, d: seq })), p.d.heartbeat_interval)
      await sharding.waitForIdentify(shardId)
      if (ws.readyState !== WebSocket.OPEN) return
      ws.send(JSON.stringify({ op: 2, d: { token, intents: 1, shard: [shardId, sharding.totalShards], properties: { os: 'linux', browser: 'bench', device: 'bench' } } }))
    } else if (p.op === 0 && p.t === 'READY') {
      ready = true
      sharding.reportShard(shardId, 'ready')
    } else if (p.op === 9) {
      // An invalid session would show as a shard that never becomes ready: the bench then times out.
      console.error(`shard ${shardId}: invalid session`)
    }
  })
  // 2,500 sockets opening at once can overflow the listen backlog: the refused ones retry with jitter.
  ws.on('error', (err) => {
    if (!ready) console.error(`shard ${shardId}: ${err.message}; retrying`)
  })
  ws.on('close', () => {
    clearInterval(heartbeat)
    if (!ready && attempt < 20) setTimeout(() => connect(shardId, attempt + 1), 100 + Math.random() * 400 * (attempt + 1))
  })
}

for (const id of sharding.shards) connect(id)

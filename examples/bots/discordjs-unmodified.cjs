// The CommonJS twin of discordjs-unmodified.mjs: a discord.js v14 bot exactly as it would be written
// for discord.js's own ShardingManager (`require('discord.js')`, no discordoo-sharding import).
// DISCORD_API_BASE lets the demo and tests point it at the local gateway simulator.
const { Client, GatewayIntentBits } = require('discord.js')

const client = new Client({
  intents: [GatewayIntentBits.Guilds],
  rest: process.env.DISCORD_API_BASE ? { api: process.env.DISCORD_API_BASE } : {},
})

client.once('clientReady', async () => {
  try {
    const counts = await client.shard.fetchClientValues('guilds.cache.size')
    console.log(`[bot] shards ${client.shard.ids.join(',')} ready; guilds per instance: ${counts.join(' ')}`)
  } catch (err) {
    console.log(`[bot] shards ${client.shard.ids.join(',')} ready (${err.message})`)
  }
})

// Messages from the manager (manager.send(), discord.js's shard.send()) arrive as they were sent, on the
// process IPC channel or, in a worker, on parentPort.
const channel = process.env.SHARDING_MANAGER_MODE === 'worker' ? require('node:worker_threads').parentPort : process
channel.on('message', (message) => {
  if (message && message.op === 'ping') client.shard.send({ op: 'pong', shards: client.shard.ids })
})

client.login(process.env.DISCORD_TOKEN)

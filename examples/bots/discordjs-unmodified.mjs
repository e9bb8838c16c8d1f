// A discord.js v14 bot exactly as it would be written for discord.js's own ShardingManager: it never
// imports discordoo-sharding. discord.js reads SHARDS / SHARD_COUNT from the environment (or
// workerData) and creates client.shard because SHARDING_MANAGER is set.
// DISCORD_API_BASE lets the demo and tests point it at the local gateway simulator.
import { Client, GatewayIntentBits } from 'discord.js'

const client = new Client({
  intents: [GatewayIntentBits.Guilds],
  rest: process.env.DISCORD_API_BASE ? { api: process.env.DISCORD_API_BASE } : {},
})

client.once('clientReady', async () => {
  try {
    const counts = await client.shard.fetchClientValues('guilds.cache.size')
    console.log(`[bot] shards ${client.shard.ids.join(',')} ready; guilds per instance: ${counts.join(' ')}`)
  } catch (err) {
    // Instances that are not running yet cannot answer (discord.js rejects the same way).
    console.log(`[bot] shards ${client.shard.ids.join(',')} ready (${err.message})`)
  }
})

await client.login(process.env.DISCORD_TOKEN)

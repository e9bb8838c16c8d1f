// A discord.js v14 bot that opts in to discordoo-sharding: attach() routes every IDENTIFY through the
// manager's cluster-wide queue, resumes sessions after a respawn, and reports shard state, ping and
// guild counts to manager.status(). All instances can then start at once.
import { Client, GatewayIntentBits } from 'discord.js'
import { ShardingClient } from 'discordoo-sharding/client'

const sharding = ShardingClient.fromEnvironment()
const client = new Client({
  intents: [GatewayIntentBits.Guilds],
  shards: sharding.shards,
  shardCount: sharding.totalShards,
  rest: process.env.DISCORD_API_BASE ? { api: process.env.DISCORD_API_BASE } : {},
})
// BOT_RESUME=1: RESUME the sessions a crashed predecessor left instead of identifying (see README).
sharding.attach(client, { resume: process.env.BOT_RESUME === '1' })

sharding.on('request', (req) => {
  if (req.message?.op === 'guildCount') req.reply(client.guilds.cache.size)
})

await client.login(process.env.DISCORD_TOKEN)

// The smallest client file: no Discord connection, just the sharding API. Each instance pretends to
// connect its shards (taking an identify turn from the manager) and reports them ready.
import { ShardingClient } from 'discordoo-sharding/client'

const sharding = ShardingClient.fromEnvironment()
for (const shardId of sharding.shards) {
  await sharding.waitForIdentify(shardId)
  sharding.reportShard(shardId, 'ready')
}

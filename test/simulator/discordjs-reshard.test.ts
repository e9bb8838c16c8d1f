import { once } from 'node:events'
import { Client, GatewayIntentBits } from 'discord.js'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator } from '../../src/simulator/index.js'
import { waitForEvent } from './wait.js'

let sim: GatewaySimulator | null = null
const clients: Client[] = []

function makeClient(restUrl: string, shardCount: number): Client {
  const shards = Array.from({ length: shardCount }, (_, i) => i)
  const client = new Client({ intents: [GatewayIntentBits.Guilds], shards, shardCount, rest: { api: restUrl } })
  clients.push(client)
  return client
}

async function login(client: Client): Promise<void> {
  const ready = once(client, 'clientReady')
  await client.login('sim-token')
  await ready
}

/** Resolves once `client` has emitted `event` `count` times. */
function times(client: Client, event: string, count: number): Promise<unknown[][]> {
  const seen: unknown[][] = []
  return new Promise((resolve) => {
    const listener = (...args: unknown[]): void => {
      seen.push(args)
      if (seen.length < count) return
      client.off(event, listener)
      resolve(seen)
    }
    client.on(event, listener)
  })
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.destroy()
  await sim?.stop()
  sim = null
})

// max_concurrency 16: no 5 s identify waits, so these stay fast.
describe('re-shard and 4011 with real discord.js v14', () => {
  it('grows, runs a set of 4 beside the set of 2, and the old set leaves without duplicates', async () => {
    // windowMs 0: two plain clients do not pace their IDENTIFYs against each other (a manager's
    // re-shard must: the new set's shards 0 and 1 share keys with the old set's). This test is about
    // routing and stats while both sets run; identify windows are tested elsewhere.
    sim = new GatewaySimulator({ guilds: 8, maxConcurrency: 16, guildsPerShardRecommended: 4, windowMs: 0 })
    const { restUrl } = await sim.start()
    const old = makeClient(restUrl, 2)
    await login(old)

    const changed = once(sim, 'recommendedShards')
    const created = times(old, 'guildCreate', 8)
    sim.scale({ guilds: 16 })
    expect((await changed)[0]).toMatchObject({ shards: 4, previous: 2 })
    await created // the running set of 2 learns about the new guilds at once
    expect(old.guilds.cache.size).toBe(16)

    const next = makeClient(restUrl, sim.recommendedShards())
    await login(next)
    expect(next.guilds.cache.size).toBe(16)
    let stats = sim.stats()
    expect(stats.sessions.byTotal).toEqual({ 2: 2, 4: 4 })
    expect(stats.sessions.coverage).toEqual({ guilds: 16, uncovered: 0, multiple: 16 })
    expect(stats.sessions.duplicates).toEqual([])
    expect(stats.violations).toEqual([])

    const oldGone = waitForEvent(sim, 'sessionEnd', () => sim!.stats().sessions.byTotal['2'] === undefined)
    await old.destroy()
    await oldGone
    stats = sim.stats()
    expect(stats.sessions.byTotal).toEqual({ 4: 4 })
    expect(stats.sessions.coverage).toEqual({ guilds: 16, uncovered: 0, multiple: 0 })
    expect(stats.sessions).toMatchObject({ maxPerShard: 1, overlaps: [] })
    expect(stats.perShard['0/4']).toEqual({ identifies: 1, violations: 0, exhausted: 0, resumes: 0, takeovers: 0 })
  })

  it('enforceShardingRequired() disconnects running discord.js shards with 4011 for good', async () => {
    sim = new GatewaySimulator({ guilds: 4, maxConcurrency: 16, maxGuildsPerShard: 2 })
    const { restUrl } = await sim.start()
    const c = makeClient(restUrl, 2)
    const errors: Error[] = []
    c.on('error', (e) => errors.push(e))
    await login(c)
    sim.scale({ guilds: 6 })
    const disconnects = times(c, 'shardDisconnect', 2)
    const ended = waitForEvent(sim, 'sessionEnd', () => sim!.stats().sessions.live.length === 0)
    expect(sim.enforceShardingRequired()).toHaveLength(2)
    await ended
    const events = (await disconnects) as Array<[{ code: number }, number]>
    expect(events.map(([e, id]) => [id, e.code]).sort()).toEqual([
      [0, 4011],
      [1, 4011],
    ])
    expect(sim.stats()).toMatchObject({ closes: { 4011: 2 }, sessions: { live: [] }, identifyCount: 2 })
    // discord.js reports a 4011 on a running shard only as shardDisconnect: no 'error', no retry.
    expect(errors).toEqual([])
  })
})

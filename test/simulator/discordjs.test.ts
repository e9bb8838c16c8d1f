import { once } from 'node:events'
import { Client, GatewayIntentBits } from 'discord.js'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator, type CloseEvent, type ResumeEvent, type SimulatorOptions } from '../../src/simulator/index.js'
import { waitForEvent } from './wait.js'

let sim: GatewaySimulator | null = null
let client: Client | null = null

async function boot(options: SimulatorOptions = {}): Promise<{ sim: GatewaySimulator; restUrl: string }> {
  sim = new GatewaySimulator({ guilds: 20, maxConcurrency: 2, ...options })
  const { restUrl } = await sim.start()
  return { sim, restUrl }
}

function makeClient(restUrl: string, shards: number[] = [0, 1], shardCount = 2): Client {
  client = new Client({ intents: [GatewayIntentBits.Guilds], shards, shardCount, rest: { api: restUrl } })
  return client
}

afterEach(async () => {
  await client?.destroy()
  client = null
  await sim?.stop()
  sim = null
})

describe('real discord.js v14 client', () => {
  it('logs in, caches every guild, resumes after a 4000 close without identifying again', async () => {
    const { sim, restUrl } = await boot()
    const c = makeClient(restUrl)
    const ready = once(c, 'clientReady')
    await c.login('sim-token')
    await ready
    expect(c.guilds.cache.size).toBe(sim.guildIds().length)
    expect(c.guilds.cache.every((g) => g.available)).toBe(true)
    expect(c.guilds.cache.filter((g) => g.shardId === 1).size).toBe(10)
    let stats = sim.stats()
    expect(stats.identifyCount).toBe(2)
    expect(stats.violations).toEqual([])
    expect(stats.sessions.byShard).toEqual({ '0/2': 1, '1/2': 1 })
    expect(stats.sessions.duplicates).toEqual([])

    const shardResumed = once(c, 'shardResume')
    sim.closeShard(0, 4000)
    const [shardId] = await shardResumed
    expect(shardId).toBe(0)
    stats = sim.stats()
    expect(stats.resumes).toBe(1)
    expect(stats.resumesViaResumeUrl).toBe(1)
    expect(stats.identifyCount).toBe(2)
    expect(stats.sessions.byShard).toEqual({ '0/2': 1, '1/2': 1 })
  })

  it('follows op 7 and a resumable op 9 by resuming', async () => {
    const { sim, restUrl } = await boot()
    const c = makeClient(restUrl)
    await c.login('sim-token')
    let resumed = once(sim, 'resume')
    sim.reconnect(1, { closeAfterMs: 10_000 })
    expect((await resumed)[0].shard).toEqual([1, 2])
    resumed = once(sim, 'resume')
    sim.invalidateSession(0, true)
    expect((await resumed)[0].shard).toEqual([0, 2])
    expect(sim.stats()).toMatchObject({ resumes: 2, identifyCount: 2, violations: [] })
  })

  it('detects a zombie connection (no heartbeat ACK) and resumes', async () => {
    // Fast client heartbeats, but a server deadline no stall of this busy machine reaches: only the
    // client's missing-ACK check may close a socket here.
    const { sim, restUrl } = await boot({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 60_000 })
    const c = makeClient(restUrl)
    await c.login('sim-token')
    const resumed = waitForEvent<ResumeEvent>(sim, 'resume', (e) => e.shard[0] === 1)
    const closed = waitForEvent<CloseEvent>(sim, 'close', (e) => e.shard?.[0] === 1)
    sim.zombie(1, true)
    expect(await closed).toMatchObject({ shard: [1, 2], code: 4200, initiator: 'client' })
    sim.zombie(1, false)
    expect((await resumed).shard).toEqual([1, 2])
    expect(sim.stats()).toMatchObject({ identifyCount: 2, resumes: 1, closes: { '4200': 1 } })
  })

  it('emits guildCreate / guildDelete for guilds added and removed at run time', async () => {
    const { sim, restUrl } = await boot({ guilds: 4 })
    const c = makeClient(restUrl)
    await c.login('sim-token')
    const created = once(c, 'guildCreate')
    const [id] = sim.addGuilds(1)
    expect((await created)[0].id).toBe(id)
    const deleted = once(c, 'guildDelete')
    sim.removeGuild(id!)
    expect((await deleted)[0].id).toBe(id)
    expect(c.guilds.cache.size).toBe(4)
  })

  it('rejects login with a bad token', async () => {
    const { sim, restUrl } = await boot()
    const c = makeClient(restUrl)
    await expect(c.login('not-the-token')).rejects.toMatchObject({ code: 'TokenInvalid' })
    expect(sim.stats().identifies).toEqual([])
  })

  it('rejects login when a shard has more than maxGuildsPerShard guilds (4011)', async () => {
    const { sim, restUrl } = await boot({ guilds: 20, maxGuildsPerShard: 5 })
    const c = makeClient(restUrl)
    await expect(c.login('sim-token')).rejects.toThrow('Sharding is required')
    expect(sim.stats().closes['4011']).toBeGreaterThanOrEqual(1)
    expect(sim.stats().identifyCount).toBe(0)
  })
})

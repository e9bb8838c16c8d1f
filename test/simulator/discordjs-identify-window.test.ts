import { once } from 'node:events'
import { Client, GatewayIntentBits } from 'discord.js'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator } from '../../src/simulator/index.js'

// These take ~5-7 s each: discord.js hard-codes a 5 s identify window per key.
let sim: GatewaySimulator | null = null
const clients: Client[] = []

function makeClient(restUrl: string, shards: number[], shardCount: number): Client {
  const client = new Client({ intents: [GatewayIntentBits.Guilds], shards, shardCount, rest: { api: restUrl } })
  clients.push(client)
  return client
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.destroy()
  await sim?.stop()
  sim = null
})

describe('identify window with max_concurrency 1 (real discord.js)', () => {
  it('one client serialises its shards 5 s apart: zero violations', async () => {
    // discord.js spaces its grants 5 s apart; the tolerance absorbs the send latency of the first
    // IDENTIFY on a busy machine (the window is measured at arrival).
    sim = new GatewaySimulator({ guilds: 6, maxConcurrency: 1, toleranceMs: 1000 })
    const { restUrl } = await sim.start()
    const c = makeClient(restUrl, [0, 1], 2)
    const ready = once(c, 'clientReady')
    await c.login('sim-token')
    await ready
    const stats = sim.stats()
    expect(stats.violations).toEqual([])
    expect(stats.identifiesByKey['0']).toHaveLength(2)
    expect(stats.identifies[1]!.gapMs).toBeGreaterThanOrEqual(4000)
    expect(stats.sessions.byShard).toEqual({ '0/2': 1, '1/2': 1 })
    expect(c.guilds.cache.size).toBe(6)
  }, 20_000)

  it('two uncoordinated clients sharing a key collide: op 9, then discord.js retries and recovers', async () => {
    sim = new GatewaySimulator({ guilds: 6, maxConcurrency: 1, invalidSessionDelayMs: 0 })
    const { restUrl } = await sim.start()
    const violation = once(sim, 'violation')
    const a = makeClient(restUrl, [0], 2)
    const b = makeClient(restUrl, [1], 2)
    await Promise.all([a.login('sim-token'), b.login('sim-token')])
    await violation
    const stats = sim.stats()
    expect(stats.violations.length).toBeGreaterThanOrEqual(1)
    expect(stats.identifyCount).toBe(2)
    expect(stats.remaining).toBe(1000 - stats.identifies.length) // each collision spent a session start
    expect(stats.sessions.byShard).toEqual({ '0/2': 1, '1/2': 1 })
    expect(stats.sessions.duplicates).toEqual([])
    expect(a.guilds.cache.size + b.guilds.cache.size).toBe(6)
  }, 20_000)
})

import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator, guildIdAt, type SimulatorOptions } from '../../src/simulator/index.js'
import { RawClient } from './raw-client.js'
import { waitForEvent } from './wait.js'

let sim: GatewaySimulator | null = null
const clients: RawClient[] = []

async function boot(options: SimulatorOptions = {}) {
  sim = new GatewaySimulator({ guilds: 4, invalidSessionDelayMs: 0, windowMs: 0, ...options })
  const urls = await sim.start()
  const gatewayBot = async (): Promise<any> =>
    (await fetch(`${urls.restUrl}/v10/gateway/bot`, { headers: { Authorization: 'Bot sim-token' } })).json()
  return { sim, url: urls.gatewayUrl, gatewayBot }
}

async function open(url: string): Promise<RawClient> {
  const { client } = await RawClient.hello(url)
  clients.push(client)
  return client
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate()
  await sim?.stop()
  sim = null
})

describe('growth at run time', () => {
  it('scale() grows the guilds and the recommendation; /gateway/bot and the event follow at once', async () => {
    const { sim, url, gatewayBot } = await boot({ guilds: 4, guildsPerShardRecommended: 4 })
    expect((await gatewayBot()).shards).toBe(1)
    const a = await open(url)
    await a.ready({ shard: [0, 1] })
    const changed = once(sim, 'recommendedShards')
    expect(sim.scale({ guilds: 10 })).toEqual({ guilds: 10, added: 6, removed: 0, recommendedShards: 3, previousRecommendedShards: 1 })
    expect((await changed)[0]).toEqual({ shards: 3, previous: 1, guilds: 10 })
    expect((await gatewayBot()).shards).toBe(3)
    expect(sim.recommendedShards()).toBe(3)
    for (let i = 4; i < 10; i++) expect((await a.dispatch('GUILD_CREATE')).d.id).toBe(guildIdAt(i)) // the running [0/1] owns them all
  })

  it('shrinks too, and a pinned recommendation wins until it is unpinned', async () => {
    const { sim, gatewayBot } = await boot({ guilds: 10, guildsPerShardRecommended: 4 })
    const events: number[] = []
    sim.on('recommendedShards', (e) => events.push(e.shards))
    expect(sim.scale({ guilds: 3 })).toMatchObject({ removed: 7, recommendedShards: 1 })
    expect(sim.guildIds()).toEqual([0, 1, 2].map(guildIdAt)) // the newest went first
    expect(sim.scale({ recommendedShards: 6 }).recommendedShards).toBe(6)
    expect((await gatewayBot()).shards).toBe(6)
    sim.scale({ guilds: 40 }) // pinned: no change
    expect(sim.scale({ recommendedShards: null }).recommendedShards).toBe(10)
    sim.addGuilds(1)
    sim.removeGuild(guildIdAt(0))
    sim.configure({ guilds: 100, guildsPerShardRecommended: 50 }) // one change, one event
    sim.configure({ maxGuildsPerShard: 10 }) // 4011 would refuse 2 shards of 50: the recommendation rises
    expect(events).toEqual([1, 6, 10, 11, 10, 2, 10])
    expect(() => sim.scale({ guilds: -1 })).toThrow(expect.objectContaining({ field: 'guilds' }))
    expect(() => sim.scale({ guilds: 2.5 })).toThrow(expect.objectContaining({ field: 'guilds' }))
    expect(() => sim.scale({ shards: 2 } as never)).toThrow(expect.objectContaining({ field: 'shards' }))
    expect(sim.guildIds()).toHaveLength(100)
  })

  it('runs sessions of the old and the new shard count side by side, each with its own share of guilds', async () => {
    const { sim, url } = await boot({ guilds: 8, maxConcurrency: 16 })
    const old = [await open(url), await open(url)]
    await Promise.all(old.map((c, i) => c.ready({ shard: [i, 2] })))
    expect(sim.stats().sessions.coverage).toEqual({ guilds: 8, uncovered: 0, multiple: 0 })
    const next = [await open(url), await open(url), await open(url), await open(url)]
    const readies = await Promise.all(next.map((c, i) => c.ready({ shard: [i, 4] })))
    expect(readies.map((r) => r.ready.d.guilds.map((g: { id: string }) => g.id))).toEqual(
      [0, 1, 2, 3].map((s) => [s, s + 4].map(guildIdAt)),
    )
    let stats = sim.stats()
    expect(stats.sessions.byTotal).toEqual({ 2: 2, 4: 4 })
    expect(stats.sessions.duplicates).toEqual([])
    expect(stats.sessions.coverage).toEqual({ guilds: 8, uncovered: 0, multiple: 8 })
    // An event of guild 5 reaches [1/2] and [1/4]: the bot would see it twice during the overlap.
    expect(sim.dispatch('MESSAGE_CREATE', { guild_id: guildIdAt(5) })).toBe(2)
    const oldGone = waitForEvent(sim, 'sessionEnd', () => sim.stats().sessions.byTotal['2'] === undefined)
    await Promise.all(old.map((c) => c.close(1000)))
    await oldGone
    stats = sim.stats()
    expect(stats.sessions.byTotal).toEqual({ 4: 4 })
    expect(stats.sessions.coverage).toEqual({ guilds: 8, uncovered: 0, multiple: 0 })
    expect(stats.sessions.maxPerShard).toBe(1)
  })
})

describe('4011 sharding required', () => {
  it('closes an IDENTIFY whose shard would hold more than maxGuildsPerShard after growth', async () => {
    const { sim, url } = await boot({ guilds: 3, maxGuildsPerShard: 3 })
    const a = await open(url)
    await a.ready({ shard: [0, 1] })
    sim.scale({ guilds: 4 })
    const b = await open(url)
    b.identify({ shard: [0, 1] })
    expect((await b.closed).code).toBe(4011)
    const c = await open(url)
    await c.ready({ shard: [0, 2] })
    expect(sim.stats().perShard).toEqual({
      '0/1': { identifies: 1, violations: 0, exhausted: 0, resumes: 0, takeovers: 0 },
      '0/2': { identifies: 1, violations: 0, exhausted: 0, resumes: 0, takeovers: 0 },
    })
  })

  it('enforceShardingRequired() closes running sessions that now hold too many with 4011 and ends detached ones', async () => {
    const { sim, url } = await boot({ guilds: 4, maxGuildsPerShard: 2, maxConcurrency: 16 })
    const big = await open(url)
    const small = [await open(url), await open(url)]
    const dropped = await open(url)
    await Promise.all(small.map((c, i) => c.ready({ shard: [i, 2] })))
    const { ready: droppedReady } = await dropped.ready({ shard: [0, 2] })
    const detached = waitForEvent(sim, 'close', (e: any) => e.sessionId === droppedReady.d.session_id)
    dropped.terminate() // resumable: detached
    await detached
    expect(sim.enforceShardingRequired()).toEqual([])
    sim.scale({ guilds: 6 }) // 3 per shard of 2
    expect(sim.stats().sessions.live).toHaveLength(3) // nothing enforced yet: Discord checks at IDENTIFY
    const ended = waitForEvent(sim, 'sessionEnd', (e: any) => e.sessionId === droppedReady.d.session_id)
    const closed = sim.enforceShardingRequired()
    expect(closed.map((c) => [c.shard, c.guilds, c.connected]).sort()).toEqual([
      [[0, 2], 3, false],
      [[0, 2], 3, true],
      [[1, 2], 3, true],
    ])
    expect((await ended).reason).toBe('invalidated')
    expect((await small[0]!.closed).code).toBe(4011)
    expect((await small[1]!.closed).code).toBe(4011)
    const r = await open(url)
    r.send({ op: 6, d: { token: 'sim-token', session_id: droppedReady.d.session_id, seq: 1 } })
    expect(await r.next()).toMatchObject({ op: 9, d: false })
    big.identify({ shard: [0, 3] }) // 2 guilds: allowed
    await big.dispatch('READY')
    expect(sim.stats().closes['4011']).toBe(2)
  })
})

describe('daily session budget', () => {
  it('/gateway/bot shows every IDENTIFY from any connection at once; setSessionStartLimit sets remaining', async () => {
    const { sim, url, gatewayBot } = await boot({ maxConcurrency: 4, sessionStartLimit: { total: 50 } })
    const clientsReady = [0, 1, 2].map(async (i) => (await open(url)).ready({ shard: [i, 4] }, 0))
    await Promise.all(clientsReady)
    expect((await gatewayBot()).session_start_limit).toMatchObject({ total: 50, remaining: 47, max_concurrency: 4 })
    const violator = await open(url)
    violator.identify({ shard: [0, 4] })
    // windowMs 0 in this suite: accepted too, and counted before READY is even read
    await violator.dispatch('READY')
    expect((await gatewayBot()).session_start_limit.remaining).toBe(46)
    expect(sim.setSessionStartLimit({ remaining: 2 })).toMatchObject({ total: 50, remaining: 2 })
    expect((await gatewayBot()).session_start_limit.remaining).toBe(2)
    expect(() => sim.setSessionStartLimit({ remaining: 51 })).toThrow(expect.objectContaining({ field: 'sessionStartLimit.remaining' }))
    expect(() => sim.setSessionStartLimit({ resetAfterMs: 0 })).toThrow(expect.objectContaining({ field: 'sessionStartLimit.resetAfterMs' }))
    expect(sim.sessionStartLimit().remaining).toBe(2)
  })

  it('counts reset_after down and refills after it; budgetReset is the event to wait for', async () => {
    const { sim, url, gatewayBot } = await boot({ sessionStartLimit: { total: 3, resetAfterMs: 60_000 } })
    const first = (await gatewayBot()).session_start_limit.reset_after
    expect(first).toBeGreaterThan(0)
    expect(first).toBeLessThanOrEqual(60_000)
    await (await open(url)).ready({ shard: [0, 1] }, 0)
    const second = (await gatewayBot()).session_start_limit
    expect(second.remaining).toBe(2)
    expect(second.reset_after).toBeLessThanOrEqual(first) // a monotonic countdown
    // A short period from now on (a new period starts with it); then wait for the refill, not for a time.
    const reset = once(sim, 'budgetReset')
    expect(sim.setSessionStartLimit({ remaining: 0, resetAfterMs: 300 })).toMatchObject({ remaining: 0, total: 3 })
    expect((await reset)[0]).toMatchObject({ remaining: 3, total: 3 })
    const after = (await gatewayBot()).session_start_limit
    expect(after.remaining).toBe(3)
    expect(after.reset_after).toBeGreaterThan(0)
    expect(after.reset_after).toBeLessThanOrEqual(300)
    expect(sim.stats().budgetResets).toBeGreaterThanOrEqual(1)
  })
})

describe('duplicate-session and per-shard stats', () => {
  it('records overlaps of one [id/total] with timestamps, the peak, and identifies vs resumes per shard', async () => {
    const { sim, url } = await boot({ guilds: 0 })
    const a = await open(url)
    const { ready } = await a.ready({ shard: [0, 1] })
    const dup = once(sim, 'duplicateSession')
    const b = await open(url)
    const { ready: readyB } = await b.ready({ shard: [0, 1] })
    expect((await dup)[0]).toMatchObject({ shard: [0, 1], sessionId: readyB.d.session_id, sessions: 2 })
    let stats = sim.stats()
    expect(stats.sessions.duplicates).toEqual(['0/1'])
    expect(stats.sessions.overlaps).toEqual([
      { shard: '0/1', sessionIds: [ready.d.session_id, readyB.d.session_id], startedAt: expect.any(Number), endedAt: null, maxSessions: 2 },
    ])
    const bEnded = waitForEvent(sim, 'sessionEnd', (e: any) => e.sessionId === readyB.d.session_id)
    await b.close(1000)
    await bEnded
    // a drop, then a RESUME: one session all along, so no new overlap
    const aDropped = waitForEvent(sim, 'close', (e: any) => e.sessionId === ready.d.session_id)
    a.terminate()
    await aDropped
    const r = await open(url)
    r.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: 1 } })
    await r.dispatch('RESUMED')
    stats = sim.stats()
    const [overlap] = stats.sessions.overlaps
    expect(overlap!.endedAt).toBeGreaterThanOrEqual(overlap!.startedAt)
    expect(stats.sessions.overlaps).toHaveLength(1)
    expect(stats.sessions).toMatchObject({ duplicates: [], maxByShard: { '0/1': 2 }, maxPerShard: 2, byShard: { '0/1': 1 } })
    expect(stats.perShard).toEqual({ '0/1': { identifies: 2, violations: 0, exhausted: 0, resumes: 1, takeovers: 0 } })

    sim.resetStats()
    stats = sim.stats()
    expect(stats.sessions).toMatchObject({ overlaps: [], maxByShard: { '0/1': 1 }, maxPerShard: 1 })
    expect(stats.perShard).toEqual({})
  })

  it('counts violations and budget refusals per shard', async () => {
    const { sim, url } = await boot({ windowMs: 60_000, sessionStartLimit: { total: 2 }, budgetExhaustedMode: 'invalid-session' })
    const a = await open(url)
    await a.ready({ shard: [0, 2] }, 0)
    const b = await open(url)
    b.identify({ shard: [1, 2] })
    expect(await b.next()).toMatchObject({ op: 9, d: false }) // window: violation (spends the last start)
    b.identify({ shard: [1, 2] })
    expect(await b.next()).toMatchObject({ op: 9, d: false }) // budget at 0
    expect(sim.stats().perShard).toEqual({
      '0/2': { identifies: 1, violations: 0, exhausted: 0, resumes: 0, takeovers: 0 },
      '1/2': { identifies: 0, violations: 1, exhausted: 1, resumes: 0, takeovers: 0 },
    })
  })
})

// Real discord.js v14 bots under the manager, against the local gateway simulator: an unmodified bot
// (adapted by the preloaded runtime), an opted-in bot (coordinated identifies, resume after a crash), fatal 4011
// handling and shards: 'auto'. Identify windows are shortened on both sides (they must agree).
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator, type SimulatorOptions } from '../../dist/simulator.js'
import type { ShardingManager } from '../../dist/index.js'
import { fixture, makeManager, nextEvent, stopAll } from '../helpers/manager.js'

const UNMODIFIED = fileURLToPath(new URL('../../examples/bots/discordjs-unmodified.mjs', import.meta.url))
const OPTED_IN = fileURLToPath(new URL('../../examples/bots/discordjs-bot.mjs', import.meta.url))

const WINDOW = 1000
const MARGIN = 100
const CONCURRENCY = 4
const SHARDS = 16
const PER_INSTANCE = 4
const GUILDS = 320

let sim: GatewaySimulator | null = null

afterEach(async () => {
  await stopAll()
  await sim?.stop()
  sim = null
})

async function startSim(options: SimulatorOptions = {}): Promise<string> {
  sim = new GatewaySimulator({ guilds: GUILDS, maxConcurrency: CONCURRENCY, windowMs: WINDOW, ...options })
  return (await sim.start()).restUrl
}

function djsManager(mode: string, file: string, restUrl: string, options: Record<string, unknown> = {}): ShardingManager {
  return makeManager({
    mode,
    file,
    shards: SHARDS,
    shardsPerInstance: PER_INSTANCE,
    identify: { windowMs: WINDOW, marginMs: MARGIN, maxConcurrency: CONCURRENCY },
    env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: 'sim-token' },
    ...options,
  })
}

/** `{ '0/n': 1, …, 'n-1/n': 1 }`: one connected session per shard. */
const oneSessionEach = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${i}/${n}`, 1]))

/** Polls a condition that has no event (values carried by the manager's heartbeats). */
async function until<T>(read: () => T, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = read()
    if (ok(v) || Date.now() > end) return v
    await new Promise((r) => setTimeout(r, 50))
  }
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

describe.each(['processes', 'workers'] as const)('discord.js in %s mode', (mode) => {
  it('runs an unmodified bot: adapted, no violations, client.shard works', async () => {
    const restUrl = await startSim()
    const manager = djsManager(mode, UNMODIFIED, restUrl)
    const deaths: unknown[] = []
    manager.on('instanceDeath', (d) => deaths.push(d))
    const t0 = performance.now()
    await manager.start()
    const elapsed = Math.round(performance.now() - t0)
    console.log(`[${mode}] unmodified bot, ${SHARDS} shards in ${SHARDS / PER_INSTANCE} instances: all ready in ${elapsed} ms (adapted)`)

    const stats = sim!.stats()
    expect(stats.violations).toEqual([])
    expect(stats.identifyCount).toBe(SHARDS)
    expect(stats.sessions.byShard).toEqual(oneSessionEach(SHARDS))
    expect(stats.sessions.duplicates).toEqual([])
    expect(stats.sessions.live).toHaveLength(SHARDS)
    expect(deaths).toEqual([])
    // the preloaded runtime adapts the unmodified bot: identify turns from the manager, all instances at once
    expect(manager.status().identify!.strategy).toBe('coordinated')

    // discord.js's own ShardClientUtil inside the bot, answered by the manager
    const perShardGuilds = GUILDS / SHARDS
    expect(await manager.broadcastEval(() => undefined, { instance: 0 })).toBeUndefined()
    const inside = await manager.broadcastEval((c: any) => c.shard.fetchClientValues('guilds.cache.size'), { instance: 0 })
    expect(inside).toEqual([1, 2, 3, 4].map(() => perShardGuilds * PER_INSTANCE))
    const ids = await manager.broadcastEval((c: any) => c.shard.broadcastEval((x: any) => x.shard.ids), { instance: 2 })
    expect(ids).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]])
    // failures reach the bot as discord.js's manager gives them: the thrower's own name and message
    const failures = await manager.broadcastEval(
      async (c: any) => {
        const caught = (p: Promise<unknown>) => p.then(() => null, (e: Error) => ({ name: e.name, message: e.message, isError: e instanceof Error }))
        return [
          await caught(c.shard.broadcastEval(() => { throw new TypeError('boom') })),
          await caught(c.shard.fetchClientValues('nope.deep')),
        ]
      },
      { instance: 1 },
    )
    expect(failures).toEqual([
      { name: 'TypeError', message: 'boom', isError: true },
      { name: 'TypeError', message: "fetchClientValues('nope.deep'): client.nope is undefined, so it has no 'deep'", isError: true },
    ])

    expect(sum(await manager.broadcastEval((c: any) => c.guilds.cache.size))).toBe(GUILDS)
    expect(sum(await manager.fetchClientValues('guilds.cache.size'))).toBe(GUILDS)
  })

  it('runs an opted-in bot: every instance at once, close to the identify floor', async () => {
    // heartbeats every 2 s so every shard has a ping soon; a generous timeout so a busy CPU never looks like a zombie
    const restUrl = await startSim({ heartbeatIntervalMs: 2000, heartbeatTimeoutMs: 30_000 })
    const manager = djsManager(mode, OPTED_IN, restUrl, { timeouts: { kill: 2000, heartbeatInterval: 200 } })
    const order: string[] = []
    manager.on('instanceSpawn', (i) => order.push(`spawn ${i.id}`))
    manager.on('instanceReady', (i) => order.push(`ready ${i.id}`))
    const t0 = performance.now()
    await manager.start()
    const elapsed = Math.round(performance.now() - t0)
    const floor = (Math.ceil(SHARDS / CONCURRENCY) - 1) * WINDOW
    console.log(`[${mode}] opted-in bot, ${SHARDS} shards at max_concurrency ${CONCURRENCY}: all ready in ${elapsed} ms (floor ${floor} ms + connection time)`)

    const stats = sim!.stats()
    expect(stats.violations).toEqual([])
    expect(stats.identifyCount).toBe(SHARDS)
    expect(stats.sessions.byShard).toEqual(oneSessionEach(SHARDS))
    expect(stats.sessions.duplicates).toEqual([])
    expect(manager.status().identify!.strategy).toBe('coordinated')
    expect(manager.status().identify!.granted).toBe(SHARDS)
    expect(manager.status().identify!.sendsConfirmed).toBe(SHARDS)
    // the first instance's identify request started the next one before it was ready (later ones start
    // a lead time before their turn, see the start gate)
    expect(order.slice(0, 2)).toEqual(['spawn 0', 'spawn 1'])

    // ping and guild counts come from the attached client with the manager's heartbeats
    const shardStates = () => manager.status().machines[0]!.instances.flatMap((i) => i.shardStates)
    // (a shard can have a ping before its guilds arrive: it heartbeats while it waits for its identify turn)
    const states = await until(shardStates, (s) => s.every((v) => typeof v.ping === 'number' && v.guilds === GUILDS / SHARDS))
    expect(states.map((s) => s.id)).toEqual(Array.from({ length: SHARDS }, (_, i) => i))
    for (const s of states) {
      expect(s.ping).toBeGreaterThanOrEqual(0)
      expect(s.guilds).toBe(GUILDS / SHARDS)
    }
  })

  it('a killed instance re-identifies by default and gets its full state back', async () => {
    const restUrl = await startSim({ guilds: 160 })
    const manager = djsManager(mode, OPTED_IN, restUrl, { shards: 8 })
    await manager.start()
    const before = sim!.stats()
    const respawned = nextEvent<any>(manager, 'instanceReady', (i) => i.id === 1)
    await manager.broadcastEval(() => void setTimeout(() => process.exit(1), 10), { instance: 1 })
    await respawned
    const after = sim!.stats()
    expect(after.identifyCount - before.identifyCount).toBe(4)
    expect(after.resumes).toBe(before.resumes)
    expect(after.violations).toEqual([])
    expect(await manager.broadcastEval((c) => [c.isReady(), c.guilds.cache.size], { instance: 1 })).toEqual([true, 80])
  })

  it('resumes the sessions of a killed instance instead of identifying (attach with resume: true)', async () => {
    const restUrl = await startSim({ guilds: 160 })
    const manager = djsManager(mode, OPTED_IN, restUrl, { shards: 8, env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: 'sim-token', BOT_RESUME: '1' } })
    // READY reaches the manager (reportSession flushes new sessions at once) before the shard is ready,
    // so once start() resolves the manager holds every session.
    await manager.start()
    const before = sim!.stats()
    expect(before.identifyCount).toBe(8)

    const victim = manager.status().machines[0]!.instances[1]!
    expect(victim.shards).toEqual([4, 5, 6, 7])
    const respawned = nextEvent<any>(manager, 'instanceReady', (i) => i.id === 1)
    const death = nextEvent<any>(manager, 'instanceDeath', (i) => i.id === 1)
    if (mode === 'processes') process.kill(victim.pid!, 'SIGKILL')
    else await manager.broadcastEval(() => void setTimeout(() => process.exit(1), 10), { instance: 1 })
    await death
    expect((await respawned).restarts).toBe(1)

    const after = sim!.stats()
    console.log(`[${mode}] killed instance 1 (shards 4-7): resumes ${before.resumes} -> ${after.resumes}, identifies ${before.identifyCount} -> ${after.identifyCount}`)
    expect(after.resumes - before.resumes).toBe(victim.shards.length)
    expect(after.identifies.slice(before.identifies.length)).toEqual([])
    expect(after.violations).toEqual([])
    expect(after.sessions.byShard).toEqual(oneSessionEach(8))
    expect(after.sessions.duplicates).toEqual([])
    expect(after.sessions.live).toHaveLength(8)
    // the resumed discord.js client is ready (READY identity handed over) and handles new events
    const [ready, userId] = await manager.broadcastEval((c) => [c.isReady(), c.user?.id], { instance: 1 })
    expect(ready).toBe(true)
    expect(userId).toBeTruthy()
  })
})

describe('fatal gateway closes (4011) stop instances for good', () => {
  it.each([
    ['processes', 'unmodified', UNMODIFIED],
    ['workers', 'opted-in', OPTED_IN],
    ['workers', 'unmodified', UNMODIFIED],
    ['processes', 'opted-in', OPTED_IN],
  ] as const)('%s mode, %s bot', async (mode, _kind, file) => {
    // 10 guilds per shard, 5 allowed: every shard gets 4011 Sharding required
    const restUrl = await startSim({ guilds: 80, maxGuildsPerShard: 5 })
    const manager = djsManager(mode, file, restUrl, { shards: 8 })
    const spawns: number[] = []
    manager.on('instanceSpawn', (i) => spawns.push(i.id))
    const gaveUp: any[] = []
    const allGaveUp = new Promise<void>((resolve) =>
      manager.on('instanceGaveUp', (i) => {
        gaveUp.push(i)
        if (gaveUp.length === 2) resolve()
      }),
    )
    await expect(manager.start()).rejects.toThrow(/stopped for good|is fatal/)
    await allGaveUp
    expect(gaveUp.map((g) => g.reason)).toEqual(['fatal', 'fatal'])
    // whichever report reached the manager first: discord.js's own error, attach()'s close code, or
    // (unmodified bot) the manager's reading of discord.js's `_disconnect`
    for (const g of gaveUp) expect(g.error.message).toMatch(/Sharding is required|code 4011|4011 sharding required/)
    expect(spawns.sort()).toEqual([0, 1])
    expect(manager.status().machines[0]!.instances.map((i) => i.state)).toEqual(['fatal', 'fatal'])
    expect(sim!.stats().identifyCount).toBe(0)
    // an opted-in instance is stopped at its first 4011, so not every shard gets to identify
    expect(sim!.stats().closes['4011']).toBeGreaterThanOrEqual(2)
  })
})

it("shards: 'auto' asks the simulator's /gateway/bot for the shard count and max_concurrency", async () => {
  const restUrl = await startSim({ guilds: 200, guildsPerShardRecommended: 50, maxConcurrency: 2 })
  const manager = makeManager({
    mode: 'processes',
    file: OPTED_IN,
    shards: 'auto',
    token: 'sim-token',
    api: restUrl,
    shardsPerInstance: 2,
    identify: { windowMs: WINDOW, marginMs: MARGIN },
    env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: 'sim-token' },
  })
  await manager.start()
  expect(manager.totalShards).toBe(4)
  const status = manager.status()
  expect(status.identify!.maxConcurrency).toBe(2)
  expect(status.identify!.budget).toMatchObject({ total: 1000 })
  expect(status.machines[0]!.instances.map((i) => i.shards)).toEqual([[0, 1], [2, 3]])
  const stats = sim!.stats()
  expect(stats.violations).toEqual([])
  expect(stats.sessions.byShard).toEqual(oneSessionEach(4))
  expect(sum(await manager.fetchClientValues('guilds.cache.size'))).toBe(200)
})

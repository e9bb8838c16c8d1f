// Re-shard without downtime (issue 10), one machine: against the gateway simulator, with its stats.
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator } from '../../dist/simulator.js'
import { makeManager, nextEvent, stopAll } from '../helpers/manager.js'

let sim: GatewaySimulator | null = null
afterEach(async () => {
  await stopAll()
  await sim?.stop()
  sim = null
})

describe.each(['processes', 'workers'])('%s mode: reshard()', (mode) => {
  it('starts the new set beside the old one, switches once it is ready, then stops the old set', async () => {
    const manager = makeManager({ mode, shards: 2, shardsPerInstance: 1, env: { FIXTURE_IDENTIFY: '1' }, identify: { windowMs: 100, marginMs: 0, maxConcurrency: 2 } })
    await manager.start()
    const events: string[] = []
    const progress: { ready: number; total: number }[] = []
    manager.on('reshardStart', (e) => events.push(`start ${e.from.totalShards}->${e.to.totalShards}`))
    manager.on('reshardProgress', (p) => progress.push(p))
    manager.on('reshardDone', (e) => events.push(`done ${e.totalShards}`))
    const oldPids = manager.status().machines[0].instances.map((i) => i.pid)
    // while the new set starts, the old one answers every call
    const during: unknown[] = []
    manager.on('reshardStart', () => void manager.fetchClientValues('totalShards').then((v) => during.push(v)))
    const activeBefore = await manager.broadcastEval((c) => c.active)
    await manager.reshard({ totalShards: 4, shardsPerInstance: 2 })
    expect(events).toEqual(['start 2->4', 'done 4'])
    expect(progress.at(-1)).toEqual({ ready: 4, total: 4 })
    expect(activeBefore).toEqual([true, true])
    expect(manager.totalShards).toBe(4)
    const status = manager.status()
    expect(status.reshard).toBeUndefined()
    expect(status.machines[0].instances.map((i) => [i.shards, i.state])).toEqual([
      [[0, 1], 'ready'],
      [[2, 3], 'ready'],
    ])
    expect(await manager.fetchClientValues('totalShards')).toEqual([4, 4])
    expect(await manager.broadcastEval((c) => c.active)).toEqual([true, true])
    // the old instances are gone
    for (const pid of oldPids) if (mode === 'processes') expect(() => process.kill(pid!, 0)).toThrow()
    await expect.poll(() => during.length).toBe(1)
    expect(during[0]).toEqual([2, 2])
  })

  it("is refused before anything starts when the day's identify budget cannot pay for the new set", async () => {
    const manager = makeManager({ mode, shards: 2, identify: { windowMs: 100, marginMs: 0, budget: { total: 1000, remaining: 3, resetAfter: 3_600_000 } } })
    await manager.start()
    let started = false
    manager.on('reshardStart', () => (started = true))
    const err = await manager.reshard({ totalShards: 4 }).catch((e) => e)
    expect(err.code).toBe('BUDGET_EXCEEDED')
    expect(err.message).toMatch(/needs 4 identifies, but only 1 are left/)
    expect(started).toBe(false)
    expect(manager.totalShards).toBe(2)
  })

  it('keeps the old set running when the new one fails', async () => {
    const manager = makeManager({ mode, shards: 2, restarts: { max: 1, baseDelay: 20, maxDelay: 50 }, env: { FIXTURE_FAIL_TOTAL: '3' } })
    await manager.start()
    const failed: any[] = []
    manager.on('reshardFailed', (e) => failed.push(e))
    await expect(manager.reshard({ totalShards: 3 })).rejects.toThrow(/died \d+ times/)
    expect(failed).toHaveLength(1)
    expect(manager.totalShards).toBe(2)
    expect(manager.status().reshard).toBeUndefined()
    expect(await manager.fetchClientValues('totalShards')).toEqual([2, 2])
  })
})

describe('reshard() with an attached discord.js bot against the simulator', () => {
  it('has at most one session per [shard/total] outside the overlap and no identify violation', async () => {
    sim = new GatewaySimulator({ guilds: 40, maxConcurrency: 2, windowMs: 200, recommendedShards: 2 })
    const { restUrl } = await sim.start()
    const manager = makeManager({
      mode: 'processes',
      file: new URL('../../examples/bots/discordjs-bot.mjs', import.meta.url).pathname,
      shards: 2,
      shardsPerInstance: 2,
      token: 'sim-token',
      api: restUrl,
      env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: 'sim-token' },
      identify: { windowMs: 200, marginMs: 50 },
      timeouts: { kill: 3000 },
    })
    await manager.start()
    sim.scale({ recommendedShards: 4 }) // the bot grew: /gateway/bot now recommends 4
    await manager.reshard({ totalShards: 'auto' })
    expect(manager.totalShards).toBe(4)
    const stats = sim.stats() as any
    expect(stats.violations).toEqual([])
    expect(stats.sessions.byTotal).toEqual({ 4: 4 })
    expect(Object.values(stats.sessions.maxByShard).every((n) => n === 1)).toBe(true)
  })
})

describe('reshard() with an unmodified discord.js bot', () => {
  it('gives the new set the new SHARD_COUNT; no identify violation, one session per [shard/total] at the end', async () => {
    sim = new GatewaySimulator({ guilds: 30, maxConcurrency: 2, windowMs: 200, recommendedShards: 2 })
    const { restUrl } = await sim.start()
    const manager = makeManager({
      mode: 'workers',
      file: new URL('../../examples/bots/discordjs-unmodified.mjs', import.meta.url).pathname,
      shards: 2,
      env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: 'sim-token' },
      identify: { windowMs: 200, marginMs: 50, maxConcurrency: 2 },
      timeouts: { kill: 3000 },
    })
    await manager.start()
    await manager.reshard({ totalShards: 3 })
    // discord.js's own client.shard sees the new count in every instance
    expect(await manager.broadcastEval((c: any) => c.shard?.count ?? c.options?.shardCount)).toEqual([3, 3, 3])
    const stats = sim.stats() as any
    expect(stats.violations).toEqual([])
    expect(stats.sessions.byTotal).toEqual({ 3: 3 })
    expect(Object.values(stats.sessions.maxByShard).every((n) => n === 1)).toBe(true)
  })
})

describe('reshard: { auto: true }', () => {
  it('re-shards by itself when /gateway/bot recommends more shards, and at once on a 4011 close', async () => {
    sim = new GatewaySimulator({ guilds: 40, maxConcurrency: 4, windowMs: 100, recommendedShards: 2 })
    const { restUrl } = await sim.start()
    const manager = makeManager({
      mode: 'workers',
      file: new URL('../../examples/bots/discordjs-bot.mjs', import.meta.url).pathname,
      shards: 'auto',
      token: 'sim-token',
      api: restUrl,
      env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: 'sim-token' },
      identify: { windowMs: 100, marginMs: 20 },
      reshard: { auto: true, checkInterval: 1000 },
      timeouts: { kill: 3000 },
    })
    const debug: string[] = []
    manager.on('debug', (d) => debug.push(d))
    await manager.start()
    expect(manager.totalShards).toBe(2)
    // the bot grew: the periodic check sees the new recommendation
    const first = nextEvent<any>(manager, 'reshardDone')
    sim.scale({ recommendedShards: 3 })
    expect((await first).totalShards).toBe(3)
    // a shard now holds too many guilds: Discord closes it with 4011, which triggers a check at once
    const second = nextEvent<any>(manager, 'reshardDone')
    sim.configure({ maxGuildsPerShard: 10 }) // 40 guilds need 4 shards of at most 10
    sim.scale({ recommendedShards: null }) // Discord's recommendation follows the guild count again
    sim.enforceShardingRequired()
    expect((await second).totalShards).toBe(4)
    // the periodic check may have won the race and re-sharded; the 4011 check still runs (after it)
    await expect
      .poll(() => debug.some((d) => /auto re-shard \(a shard closed with 4011.*recommends 4 shards/.test(d)), { timeout: 30_000 })
      .toBe(true)
    const stats = sim.stats() as any
    expect(stats.violations).toEqual([])
    expect(stats.sessions.byTotal).toEqual({ 4: 4 })
  })
})

// Unmodified discord.js bots (written for discord.js's own ShardingManager) adapted by the runtime the
// manager preloads: identify turns from the manager, every instance started together, evals through our
// own protocol, status, RESUME after a kill; and the fallbacks (opted out, not discord.js, a discord.js
// whose internals the adapter does not know), which start instances in key-aware waves.
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator } from '../../dist/simulator.js'
import type { ShardingManager } from '../../dist/index.js'
import { fixture, makeManager, nextEvent, stopAll } from '../helpers/manager.js'

const BOTS = {
  esm: fileURLToPath(new URL('../../examples/bots/discordjs-unmodified.mjs', import.meta.url)),
  cjs: fileURLToPath(new URL('../../examples/bots/discordjs-unmodified.cjs', import.meta.url)),
}
const WINDOW = 300
const MARGIN = 50
const GUILDS = 80

let sim: GatewaySimulator | null = null

afterEach(async () => {
  await stopAll()
  await sim?.stop()
  sim = null
})

async function startSim(maxConcurrency: number): Promise<string> {
  sim = new GatewaySimulator({ guilds: GUILDS, maxConcurrency, windowMs: WINDOW, heartbeatIntervalMs: 1000 })
  return (await sim.start()).restUrl
}

function botManager(mode: string, file: string, restUrl: string, options: { shards: number; perInstance: number; concurrency: number; env?: Record<string, string>; adaptDiscordJs?: boolean }): ShardingManager {
  return makeManager({
    mode,
    file,
    shards: options.shards,
    shardsPerInstance: options.perInstance,
    identify: { windowMs: WINDOW, marginMs: MARGIN, maxConcurrency: options.concurrency },
    env: { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: 'sim-token', ...options.env },
    // with a token the manager asks /gateway/bot (for the session budget) and hands the answer to the instances
    token: 'sim-token',
    api: restUrl,
    // frequent heartbeats, so status() has every shard's ping soon
    timeouts: { kill: 2000, heartbeatInterval: 200 },
    ...(options.adaptDiscordJs === undefined ? {} : { adaptDiscordJs: options.adaptDiscordJs }),
  })
}

/** Spawn / ready events and debug lines, in order. */
function record(manager: ShardingManager) {
  const events: string[] = []
  const debug: string[] = []
  manager.on('instanceSpawn', (i) => events.push(`spawn ${i.id}`))
  manager.on('instanceReady', (i) => events.push(`ready ${i.id}`))
  manager.on('debug', (line) => debug.push(line))
  return { events, debug }
}

const oneSessionEach = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${i}/${n}`, 1]))

/** Polls a value carried by the manager's heartbeats (it has no event). */
async function until<T>(read: () => T, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = read()
    if (ok(v) || Date.now() > end) return v
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe.each([
  ['processes', 'esm'],
  ['processes', 'cjs'],
  ['workers', 'esm'],
  ['workers', 'cjs'],
] as const)('%s mode, unmodified %s bot', (mode, kind) => {
  it('takes identify turns from the manager, starts every instance together, answers evals and status', async () => {
    const restUrl = await startSim(2)
    // keys {0,1} and {0,1}: instance 0 probes alone; once it has asked for its first turn, instance 1 starts
    const manager = botManager(mode, BOTS[kind], restUrl, { shards: 4, perInstance: 2, concurrency: 2 })
    const { events, debug } = record(manager)
    await manager.start()

    const stats = sim!.stats()
    expect(stats.violations).toEqual([])
    expect(stats.identifyCount).toBe(4)
    expect(stats.sessions.byShard).toEqual(oneSessionEach(4))
    expect(stats.sessions.duplicates).toEqual([])
    // every IDENTIFY was reported sent (before its shard's ready, on the same channel)
    expect(manager.status().identify).toMatchObject({ strategy: 'coordinated', granted: 4, sendsConfirmed: 4 })
    // the manager asked /gateway/bot; the instances' clients used its answer instead of asking again
    expect(stats.rest['/gateway/bot']).toBe(1)
    expect(events.slice(0, 2)).toEqual(['spawn 0', 'spawn 1'])
    expect(debug.filter((d) => /adapted the discord\.js 14\.\d+\.\d+ client: identify turns from the manager/.test(d))).toHaveLength(2)

    // Our request protocol, not discord.js's `_eval`: functions become undefined and a Map stays a Map
    // (discord.js's reply would be JSON in a process and fail to clone a function in a worker).
    const values = await manager.broadcastEval((c: any) => ({ fn: () => 1, map: new Map([[c.shard.ids[0], c.guilds.cache.size]]) }))
    expect(values.map((v: any) => 'fn' in v && v.fn === undefined)).toEqual([true, true])
    expect(values.map((v: any) => v.map)).toEqual([new Map([[0, 40]]), new Map([[2, 40]])])
    // discord.js's own client.shard keeps working
    expect(await manager.broadcastEval((c: any) => c.shard.fetchClientValues('guilds.cache.size'), { instance: 1 })).toEqual([40, 40])
    if (kind === 'cjs') {
      // manager.send() reaches an unmodified bot's own message listener as it was sent
      const pong = nextEvent<any>(manager, 'message', (m) => m?.op === 'pong')
      await manager.send({ op: 'ping' }, { instance: 1 })
      expect((await pong).shards).toEqual([2, 3])
    }

    const shardStates = () => manager.status().machines[0]!.instances.flatMap((i) => i.shardStates)
    const states = await until(shardStates, (s) => s.every((v) => typeof v.ping === 'number'))
    expect(states.map((s) => [s.id, s.state, s.guilds])).toEqual(Array.from({ length: 4 }, (_, i) => [i, 'ready', 20]))
    for (const s of states) expect(s.ping).toBeGreaterThanOrEqual(0)
  })
})

describe.each([
  ['processes', 'RESUMEs its sessions with DISCORDOO_DISCORDJS_RESUME=1', { DISCORDOO_DISCORDJS_RESUME: '1' }],
  ['workers', 'identifies again by default, with turns from the manager', {}],
] as const)('%s mode: a killed instance of an unmodified bot', (mode, _what, env) => {
  it(`${_what} and becomes ready`, async () => {
    const restUrl = await startSim(2)
    const manager = botManager(mode, BOTS.esm, restUrl, { shards: 4, perInstance: 2, concurrency: 2, env })
    await manager.start()
    const before = sim!.stats()
    const granted = manager.status().identify!.granted
    const victim = manager.status().machines[0]!.instances[1]!
    const death = nextEvent<any>(manager, 'instanceDeath', (i) => i.id === 1)
    const respawned = nextEvent<any>(manager, 'instanceReady', (i) => i.id === 1)
    if (mode === 'processes') process.kill(victim.pid!, 'SIGKILL')
    else await manager.broadcastEval(() => void setTimeout(() => process.exit(1), 10), { instance: 1 })
    await death
    expect((await respawned).restarts).toBe(1)

    const after = sim!.stats()
    const resume = 'DISCORDOO_DISCORDJS_RESUME' in env
    expect(after.resumes - before.resumes).toBe(resume ? 2 : 0)
    expect(after.identifyCount - before.identifyCount).toBe(resume ? 0 : 2)
    expect(manager.status().identify!.granted - granted).toBe(resume ? 0 : 2)
    expect(after.violations).toEqual([])
    expect(after.sessions.byShard).toEqual(oneSessionEach(4))
    expect(after.sessions.duplicates).toEqual([])
    const [ready, userId, guilds] = await manager.broadcastEval((c: any) => [c.isReady(), c.user?.id, c.guilds.cache.size], { instance: 1 })
    expect(ready).toBe(true)
    expect(userId).toBeTruthy()
    // an identified client has every guild again (a resumed one has only what the gateway replays)
    if (!resume) expect(guilds).toBe(GUILDS / 2)
  })
})

describe('fallback to key-aware waves', () => {
  /** keys {0} {1} {0} {1}: instances 0 and 1 start together, 2 after 0 is ready, 3 after 1. */
  function expectWaves(events: string[]) {
    expect(events.slice(0, 2).sort()).toEqual(['spawn 0', 'spawn 1'])
    expect(events.indexOf('spawn 2')).toBeGreaterThan(events.indexOf('ready 0'))
    expect(events.indexOf('spawn 3')).toBeGreaterThan(events.indexOf('ready 1'))
  }

  it.each([
    ['processes', 'the adaptDiscordJs option', { adaptDiscordJs: false }, /adaptation is off \(manager option adaptDiscordJs: false\)/],
    ['workers', 'DISCORDOO_ADAPT_DISCORDJS=0', { env: { DISCORDOO_ADAPT_DISCORDJS: '0' } }, /adaptation is off \(DISCORDOO_ADAPT_DISCORDJS=0\)/],
  ] as const)('%s mode: an unmodified bot opted out with %s throttles itself, without violations', async (mode, _how, optOut, said) => {
    const restUrl = await startSim(2)
    const manager = botManager(mode, BOTS.esm, restUrl, { shards: 4, perInstance: 1, concurrency: 2, ...optOut })
    const { events, debug } = record(manager)
    await manager.start()
    expect(manager.status().identify).toMatchObject({ strategy: 'waves', granted: 0 })
    expectWaves(events)
    expect(debug.some((d) => said.test(d))).toBe(true)
    expect(debug.some((d) => /key-aware waves/.test(d))).toBe(true)
    const stats = sim!.stats()
    expect(stats.violations).toEqual([])
    expect(stats.identifyCount).toBe(4)
    expect(stats.sessions.duplicates).toEqual([])
  })

  it('a bot that is not discord.js starts in waves, and debug says why', async () => {
    const manager = makeManager({ mode: 'processes', shards: 4, shardsPerInstance: 1, identify: { maxConcurrency: 2, windowMs: 200, marginMs: 0 } })
    const { events, debug } = record(manager)
    await manager.start()
    expectWaves(events)
    expect(manager.status().identify!.strategy).toBe('waves')
    expect(debug.some((d) => /start gate: the bot throttles identifies itself \(not discord\.js.*key-aware waves/.test(d))).toBe(true)
  })

  it('a discord.js whose internals the adapter does not know is left alone, and debug names the mismatch', async () => {
    const manager = makeManager({ mode: 'workers', file: fixture('changed-discordjs-bot.mjs'), shards: 4, shardsPerInstance: 1, identify: { maxConcurrency: 2, windowMs: 200, marginMs: 0 } })
    const { events, debug } = record(manager)
    await manager.start()
    expectWaves(events)
    expect(manager.status().identify!.strategy).toBe('waves')
    expect(debug.filter((d) => /discord\.js 15\.0\.0 is not adapted \(version 15\.0\.0 is not 14\.x\)/.test(d))).toHaveLength(4)
  })
})

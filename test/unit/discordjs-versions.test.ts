// Pins the discord.js internals the adapter touches (src/runtime/discordjs-internals.ts) against every
// discord.js minor version the peer range (^14.14.0) allows: package.json installs one alias per minor
// (`discord.js-14.N`, the newest being `discord.js` itself). For each version: every internal exists,
// and a real client, hooked as the adapter hooks it, takes identify turns, reports shard states and
// sessions, and resumes a handed-over session to a ready client, against the local simulator.
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { GatewaySimulator } from '../../src/simulator/index.js'
import type { GatewayHandOver, SessionInfo } from '../../src/runtime/context.js'
import { hookDiscordJs, type DiscordJsPort } from '../../src/runtime/discordjs-hooks.js'
import type { RuntimeHooks, ShardStatus } from '../../src/runtime/instance-runtime.js'
import {
  CLIENT_EVENTS,
  STATUS_NAMES,
  clientProblems,
  exportsProblems,
  isDiscordJsExports,
  resumeProblems,
  wsManagerProblems,
} from '../../src/runtime/discordjs-internals.js'

const require = createRequire(import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { devDependencies: Record<string, string>; peerDependencies: Record<string, string> }
const NAMES = Object.keys(pkg.devDependencies).filter((n) => n === 'discord.js' || /^discord\.js-14\.\d+$/.test(n))
const minorOf = (version: string) => Number(version.split('.')[1])

type Djs = Record<string, any>
const load = (name: string) => require(name) as Djs

/** Every internal the adapter relies on, as a list of what is missing (empty when all are there). */
function missingInternals(djs: Djs): string[] {
  const missing: string[] = []
  if (!isDiscordJsExports(djs)) missing.push('module exports Client, ShardClientUtil, version and WebSocketManager')
  missing.push(...exportsProblems(djs))
  const capitalised = STATUS_NAMES.map((n) => n[0]!.toUpperCase() + n.slice(1))
  capitalised.forEach((name, i) => {
    if (djs.Status?.[name] !== i) missing.push(`Status.${name} is ${djs.Status?.[name]}, expected ${i}`)
  })
  for (const [key, value] of Object.entries(CLIENT_EVENTS)) if (djs.Events?.[key] !== value) missing.push(`Events.${key} is ${djs.Events?.[key]}, expected '${value}'`)
  if (typeof djs.WebSocketShard?.prototype?.onReadyPacket !== 'function') missing.push('WebSocketShard#onReadyPacket is not a function')
  if (typeof djs.WebSocketManager?.prototype?.handlePacket !== 'function') missing.push('WebSocketManager#handlePacket is not a function')
  if (typeof djs.Client?.prototype?.destroy !== 'function') missing.push('Client#destroy is not a function')

  // A client the way an unmodified bot builds it under a sharding manager: shards from the environment.
  const saved = { SHARDS: process.env.SHARDS, SHARD_COUNT: process.env.SHARD_COUNT }
  process.env.SHARDS = '[2,3]'
  process.env.SHARD_COUNT = '4'
  try {
    const client = new djs.Client({ intents: [djs.GatewayIntentBits.Guilds], rest: { api: 'http://127.0.0.1:1/api' } })
    missing.push(...clientProblems(client))
    if (JSON.stringify(client.options.shards) !== '[2,3]') missing.push(`Client options.shards from SHARDS is ${JSON.stringify(client.options.shards)}, expected [2,3]`)
    if (client.options.shardCount !== 4) missing.push(`Client options.shardCount from SHARD_COUNT is ${client.options.shardCount}, expected 4`)
    const shard = new djs.WebSocketShard(client.ws, 2)
    if (!('sessionInfo' in shard)) missing.push('WebSocketShard#sessionInfo is missing')
  } finally {
    restoreEnv(saved)
  }
  return missing
}

function restoreEnv(saved: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
}

/**
 * Counts the IDENTIFY payloads a discord.js alias writes to its gateway sockets (through the `ws`
 * package its @discordjs/ws uses), so a test can tell whether one has left when the hooks say so.
 */
type WsProto = { send(data: unknown, ...rest: unknown[]): unknown }
/** IDENTIFY frames written so far, per `ws` copy (aliases may share one); its send is wrapped once. */
const identifiesWritten = new Map<WsProto, { n: number }>()

function identifyWrites(name: string): { count(): number } {
  const fromDjs = createRequire(require.resolve(name))
  const fromWs = createRequire(fromDjs.resolve('@discordjs/ws'))
  const proto = (fromWs('ws') as { WebSocket: { prototype: WsProto } }).WebSocket.prototype
  let written = identifiesWritten.get(proto)
  if (!written) {
    const counter = { n: 0 }
    written = counter
    identifiesWritten.set(proto, counter)
    const send = proto.send
    proto.send = function (this: unknown, data: unknown, ...rest: unknown[]) {
      if (typeof data === 'string' && /"op":2[,}]/.test(data)) counter.n++
      return send.call(this, data, ...rest)
    }
  }
  const before = written.n
  return { count: () => written.n - before }
}

function fakePort(shards: number[], sessions: Record<number, SessionInfo> = {}, writes?: { count(): number }) {
  const log = { identifies: [] as number[], states: [] as string[], sessions: [] as (SessionInfo | null)[], fatal: [] as string[], sent: [] as string[] }
  let status: () => ShardStatus[] = () => []
  const port: DiscordJsPort = {
    shards,
    sessions,
    reportShard: (id, state) => void log.states.push(`${id} ${state}`),
    fatal: (reason) => void log.fatal.push(reason),
    reportSession: (_id, session) => void log.sessions.push(session),
    identifyThrottler: () => ({ waitForIdentify: async (id) => void log.identifies.push(id) }),
    // what the manager would hear, with how many IDENTIFYs had been written by then
    identifySent: (id) => void log.sent.push(`${id} after ${writes?.count() ?? '?'} IDENTIFY written`),
    setStatusProvider: (p) => (status = p),
  }
  return { port, log, status: () => status() }
}

function nextEvent(emitter: { once(e: string, fn: (...a: any[]) => void): unknown }, name: string, ms = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${name}' within ${ms} ms`)), ms)
    emitter.once(name, (...args) => {
      clearTimeout(timer)
      resolve(args)
    })
  })
}

const clients: Djs[] = []
afterAll(async () => {
  for (const c of clients) await Promise.resolve(c.destroy()).catch(() => {})
})

it('installs one discord.js alias per minor version the peer range allows, up to the newest', () => {
  const installed = NAMES.map((n) => minorOf(load(n).version as string)).sort((a, b) => a - b)
  const oldest = Number(/\^14\.(\d+)/.exec(pkg.peerDependencies['discord.js']!)![1])
  const newest = minorOf(load('discord.js').version as string)
  const expected = Array.from({ length: newest - oldest + 1 }, (_, i) => oldest + i)
  expect(installed, 'add a devDependencies alias "discord.js-14.N": "npm:discord.js@14.N.x" for each missing minor').toEqual(expected)
  for (const n of NAMES.filter((x) => x !== 'discord.js')) expect(minorOf(load(n).version as string), `${n} installs another minor`).toBe(Number(n.split('.').at(-1)))
})

describe.each(NAMES)('%s', (name) => {
  const djs = load(name)
  const version = djs.version as string

  it('has every internal the adapter touches', () => {
    const missing = missingInternals(djs)
    if (missing.length > 0) {
      throw new Error(`discord.js ${version} (${name}) changed internals the discordoo-sharding adapter relies on:\n- ${missing.join('\n- ')}\nUpdate src/runtime/discordjs-internals.ts and discordjs-hooks.ts.`)
    }
  })

  it('hooked client: identify turns, shard and session reports, status, the manager\'s /gateway/bot, and a handed-over session RESUMEs to a ready client', async () => {
    const sim = new GatewaySimulator({ guilds: 4, maxConcurrency: 1, windowMs: 50 })
    const { restUrl } = await sim.start()
    const gatewayBotAsks = () => sim.stats().rest['/gateway/bot'] ?? 0
    try {
      // what the manager asked at its start, handed to the instance
      const info = await (await fetch(`${restUrl}/v10/gateway/bot`, { headers: { Authorization: 'Bot sim-token' } })).json()
      const gateway: GatewayHandOver = { api: restUrl, at: Date.now(), data: info as GatewayHandOver['data'] }
      const first = fakePort([0], {}, identifyWrites(name))
      const a = new djs.Client({ intents: [djs.GatewayIntentBits.Guilds], shards: [0], shardCount: 1, rest: { api: restUrl } })
      clients.push(a)
      const hooks: RuntimeHooks = {}
      expect(hookDiscordJs(first.port, hooks, a, { gateway })).toBe(true)
      expect(hookDiscordJs(first.port, hooks, a), 'a client is hooked once').toBe(false)
      const aReady = nextEvent(a, 'shardReady')
      const connecting = a.login('sim-token')
      expect(wsManagerProblems(a.ws._ws), `discord.js ${version}: the @discordjs/ws manager after connect()`).toEqual([])
      await connecting
      await aReady
      expect(gatewayBotAsks(), `discord.js ${version} logged in with the manager's /gateway/bot`).toBe(1)
      expect(Object.prototype.hasOwnProperty.call(a.rest, 'get'), 'rest.get is the client\'s own again').toBe(false)
      await a.rest.get('/gateway/bot') // only the first ask is answered from the hand-over
      expect(gatewayBotAsks()).toBe(2)
      expect(first.log.identifies, `discord.js ${version} asked the identify throttler`).toEqual([0])
      // the manager may space the next turn from this report only if the IDENTIFY had left by then
      expect(first.log.sent, `discord.js ${version} sends IDENTIFY in the task its identify turn resolves in`).toEqual(['0 after 1 IDENTIFY written'])
      expect(first.log.states).toContain('0 ready')
      expect(first.status()).toEqual([expect.objectContaining({ id: 0, state: 'ready', guilds: 4 })])
      const session = [...first.log.sessions].reverse().find((s) => s !== null)
      expect(session, `discord.js ${version} reported its session`).toMatchObject({ shardId: 0, shardCount: 1, sessionId: expect.any(String) })
      expect(session!.identity).toMatchObject({ user: expect.anything(), application: expect.anything() })
      expect(resumeProblems(a, 0)).toEqual([])
      const userId = a.user.id as string

      // The instance dies without closing its session (any close code but 1000/1001 keeps it resumable).
      await a.ws._ws.destroy({ code: 4000 })
      const second = fakePort([0], { 0: session! })
      const b = new djs.Client({ intents: [djs.GatewayIntentBits.Guilds], shards: [0], shardCount: 1, rest: { api: restUrl } })
      clients.push(b)
      hookDiscordJs(second.port, {}, b, { resume: true })
      const bReady = nextEvent(b, 'shardReady')
      await b.login('sim-token')
      await bReady
      expect(gatewayBotAsks(), 'a client without a hand-over asks for itself').toBe(3)
      expect(second.log.identifies, `discord.js ${version} resumed without an identify turn`).toEqual([])
      expect(second.log.states).toEqual(expect.arrayContaining(['0 resumed', '0 ready']))
      expect(b.isReady()).toBe(true)
      expect(b.user.id).toBe(userId)
      const stats = sim.stats()
      expect(stats).toMatchObject({ identifyCount: 1, resumes: 1, violations: [] })
    } finally {
      await sim.stop()
    }
  })
})

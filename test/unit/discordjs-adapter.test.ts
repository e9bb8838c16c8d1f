// The runtime's discord.js adapter without processes: a fake runtime records what the instance would
// tell the manager; a real discord.js (one of the pinned aliases, loaded fresh) logs in against a closed
// port, which is enough to see every decision the adapter makes before the first connection.
import Module, { createRequire } from 'node:module'
import { afterEach, describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import { resolveOptions } from '../../src/manager/options.js'
import { adaptationOff, installDiscordJsAdapter } from '../../src/runtime/discordjs-adapter.js'
import { clientProblems, exportsProblems, isDiscordJsExports, resumeProblems, wsManagerProblems } from '../../src/runtime/discordjs-internals.js'
import type { InstanceRuntime } from '../../src/runtime/instance-runtime.js'

const require = createRequire(import.meta.url)
const loader = Module as unknown as { _load: (...a: unknown[]) => unknown }
const originalLoad = loader._load

afterEach(() => {
  loader._load = originalLoad
})

function fakeRuntime(context: { shards: number[]; totalShards: number; adaptDiscordJs?: boolean }) {
  const posts: { op: string; d: any }[] = []
  const runtime = {
    context: { v: 1, instanceId: 0, machineId: 'local', mode: 'processes', file: '/bot.mjs', sessions: {}, ...context },
    hooks: {},
    post: (op: string, d: unknown) => void posts.push({ op, d }),
    reportReady: () => void posts.push({ op: 'ready', d: {} }),
    call: async () => null,
    reportSession: () => {},
  }
  return { runtime: runtime as unknown as InstanceRuntime, posts, debug: () => posts.filter((p) => p.op === 'debug').map((p) => p.d.message as string) }
}

const intents = (djs: any) => [djs.GatewayIntentBits.Guilds]
const closedApi = { api: 'http://127.0.0.1:1/api' }

describe('adaptationOff', () => {
  it('is off by the manager option or DISCORDOO_ADAPT_DISCORDJS=0/false/off/no, on otherwise', () => {
    expect(adaptationOff({ adaptDiscordJs: false }, {})).toBe('manager option adaptDiscordJs: false')
    for (const v of ['0', 'false', 'OFF', ' no ']) expect(adaptationOff({}, { DISCORDOO_ADAPT_DISCORDJS: v })).toBe(`DISCORDOO_ADAPT_DISCORDJS=${v}`)
    expect(adaptationOff({}, { DISCORDOO_ADAPT_DISCORDJS: '1' })).toBeNull()
    expect(adaptationOff({ adaptDiscordJs: true }, {})).toBeNull()
    expect(adaptationOff({}, {})).toBeNull()
  })
})

describe('the adaptDiscordJs option', () => {
  const base = { mode: 'processes', shards: 1, file: fileURLToPath(import.meta.url) }
  it('defaults to true, takes a boolean, and names the field otherwise', () => {
    expect(resolveOptions(base).adaptDiscordJs).toBe(true)
    expect(resolveOptions({ ...base, adaptDiscordJs: false }).adaptDiscordJs).toBe(false)
    expect(() => resolveOptions({ ...base, adaptDiscordJs: 'no' as never })).toThrow(/^adaptDiscordJs: expected true or false, got "no"/)
    expect(() => resolveOptions({ ...base, identify: { strategy: 'wave' as never } })).toThrow(/identify\.strategy: expected one of 'auto', 'coordinated', 'sequential', 'waves'/)
  })
})

describe('internals checks name what is missing', () => {
  it('module exports', () => {
    const fake = { version: '15.0.0', Client: class {}, ShardClientUtil: class {}, WebSocketManager: class {} }
    expect(isDiscordJsExports(fake)).toBe(true)
    expect(isDiscordJsExports({ Client: class {} })).toBe(false)
    expect(exportsProblems(fake)).toEqual(['version 15.0.0 is not 14.x', 'Client.prototype.login is not a function'])
  })

  it('a client, its @discordjs/ws manager, and what resuming needs', () => {
    expect(clientProblems({ options: {}, on() {}, ws: { shards: {} } })).toEqual([
      'client.options.ws is not an object',
      'client.ws.connect is not a function',
      'client.ws.shards is not a Map',
      'client.ws._ws (the @discordjs/ws manager) is missing',
    ])
    expect(wsManagerProblems({ options: { retrieveSessionInfo() {} } })).toEqual(['client.ws._ws.options.updateSessionInfo is not a function'])
    expect(resumeProblems({ ws: { shards: new Map([[0, {}]]) } }, 0)).toEqual([
      'client.ws.handlePacket is not a function',
      'WebSocketShard#onReadyPacket is not a function',
      'WebSocketShard#sessionInfo is missing',
    ])
  })
})

describe('installDiscordJsAdapter', () => {
  it('adapts the first discord.js client for the instance\'s shards when it logs in, and no other', async () => {
    const { runtime, posts, debug } = fakeRuntime({ shards: [0, 1], totalShards: 2 })
    installDiscordJsAdapter(runtime, {})
    const djs = require('discord.js-14.14')
    const client = new djs.Client({ intents: intents(djs), shards: [0, 1], shardCount: 2, rest: closedApi })
    await client.login('token').catch(() => {})
    expect(posts.find((p) => p.op === 'attached')?.d).toEqual({ target: 'bot', raw: true, identify: true })
    expect(runtime.hooks.target).toBe(client)
    expect(typeof client.options.ws.buildIdentifyThrottler).toBe('function')
    expect(debug()).toEqual([expect.stringMatching(/^adapted the discord\.js 14\.14\.1 client: identify turns from the manager, sessions stored \(a respawn identifies again; DISCORDOO_DISCORDJS_RESUME=1 resumes\)/)])

    const second = new djs.Client({ intents: intents(djs), shards: [0, 1], shardCount: 2, rest: closedApi })
    await second.login('token').catch(() => {})
    expect(debug().at(-1)).toBe('another discord.js client logged in; only the first one is adapted')
    expect(posts.filter((p) => p.op === 'attached')).toHaveLength(1)
  })

  it('leaves a client for other shards, or one with its own throttler, uncoordinated', async () => {
    const other = fakeRuntime({ shards: [0, 1], totalShards: 2 })
    installDiscordJsAdapter(other.runtime, {})
    const djs = require('discord.js-14.27')
    const client = new djs.Client({ intents: intents(djs), shards: [0], shardCount: 2, rest: closedApi })
    await client.login('token').catch(() => {})
    expect(other.debug()).toEqual(['a discord.js client for shards [0] of 2 logged in; this instance runs [0,1] of 2, so it is not adapted'])
    expect(other.posts.some((p) => p.op === 'attached')).toBe(false)

    loader._load = originalLoad
    const own = fakeRuntime({ shards: [0], totalShards: 1 })
    installDiscordJsAdapter(own.runtime, { DISCORDOO_DISCORDJS_RESUME: '1' })
    const fresh = require('discord.js-14.20')
    const throttler = async () => ({ waitForIdentify: async () => {} })
    const withOwn = new fresh.Client({ intents: intents(fresh), shards: [0], shardCount: 1, rest: closedApi, ws: { buildIdentifyThrottler: throttler } })
    await withOwn.login('token').catch(() => {})
    expect(withOwn.options.ws.buildIdentifyThrottler).toBe(throttler)
    expect(own.posts.find((p) => p.op === 'attached')?.d).toEqual({ target: 'bot', raw: true, identify: false })
    expect(own.debug()[0]).toMatch(/it keeps its own ws\.buildIdentifyThrottler \(identifies not coordinated\), sessions stored \(a respawn RESUMEs them\)/)
  })

  it('turned off: says so once and never touches discord.js', () => {
    const { runtime, debug } = fakeRuntime({ shards: [0], totalShards: 1, adaptDiscordJs: false })
    installDiscordJsAdapter(runtime, {})
    expect(loader._load).toBe(originalLoad)
    expect(debug()).toEqual([expect.stringMatching(/^discord\.js adaptation is off \(manager option adaptDiscordJs: false\)/)])
  })
})

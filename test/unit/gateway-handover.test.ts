// The manager's /gateway/bot answer stands in for a hooked discord.js client's first ask of it; the
// real clients of every discord.js minor are covered in discordjs-versions.test.ts.
import { describe, expect, it } from 'vitest'
import type { GatewayHandOver } from '../../src/runtime/context.js'
import { GATEWAY_HANDOVER_MAX_AGE_MS, hookDiscordJs, type DiscordJsPort } from '../../src/runtime/discordjs-hooks.js'

const API = 'http://127.0.0.1:9/api'

const port: DiscordJsPort = {
  shards: [0],
  sessions: {},
  reportShard: () => {},
  fatal: () => {},
  reportSession: () => {},
  identifyThrottler: () => ({ waitForIdentify: async () => {} }),
  identifySent: () => {},
  setStatusProvider: () => {},
}

/** What @discordjs/rest's REST looks like to the hook: `get` on the prototype, `options.api`. */
class FakeRest {
  readonly asked: string[] = []
  constructor(readonly options: { api: string }) {}
  async get(route: string): Promise<unknown> {
    this.asked.push(route)
    return { from: 'discord', route }
  }
}

function fakeClient(api: string) {
  return { options: {}, rest: new FakeRest({ api }), ws: { connect: async () => {}, shards: new Map() }, on: () => {}, destroy: () => {} }
}

const handOver = (at = Date.now(), api = API): GatewayHandOver => ({
  api,
  at,
  data: { url: 'wss://gateway.example', shards: 4, session_start_limit: { total: 1000, remaining: 990, reset_after: 50_000, max_concurrency: 4 } },
})

const hook = (client: ReturnType<typeof fakeClient>, gateway: GatewayHandOver) => hookDiscordJs(port, {}, client, { identify: false, sessions: false, gateway })

describe("the manager's /gateway/bot for a hooked client", () => {
  it('answers the first ask from the hand-over (reset_after counted on), then the client asks for itself', async () => {
    const client = fakeClient(`${API}/`) // a trailing slash is the same base
    hook(client, handOver(Date.now() - 1000))
    expect(await client.rest.get('/users/@me')).toEqual({ from: 'discord', route: '/users/@me' })
    const first = (await client.rest.get('/gateway/bot')) as GatewayHandOver['data']
    expect(first).toMatchObject({ url: 'wss://gateway.example', shards: 4, session_start_limit: { remaining: 990, max_concurrency: 4 } })
    expect(first.session_start_limit.reset_after).toBeLessThanOrEqual(49_000)
    expect(first.session_start_limit.reset_after).toBeGreaterThan(40_000)
    expect(Object.prototype.hasOwnProperty.call(client.rest, 'get')).toBe(false)
    expect(await client.rest.get('/gateway/bot')).toEqual({ from: 'discord', route: '/gateway/bot' })
    expect(client.rest.asked).toEqual(['/users/@me', '/gateway/bot'])
  })

  it('leaves a client whose REST base is not the manager\'s alone', async () => {
    const client = fakeClient('https://discord.com/api')
    hook(client, handOver())
    expect(await client.rest.get('/gateway/bot')).toEqual({ from: 'discord', route: '/gateway/bot' })
    expect(Object.prototype.hasOwnProperty.call(client.rest, 'get')).toBe(false)
  })

  it('asks Discord when the client logs in long after its spawn', async () => {
    const client = fakeClient(API)
    hook(client, handOver(Date.now() - GATEWAY_HANDOVER_MAX_AGE_MS - 1))
    expect(await client.rest.get('/gateway/bot')).toEqual({ from: 'discord', route: '/gateway/bot' })
    expect(client.rest.asked).toEqual(['/gateway/bot'])
  })

  it("puts back a `get` the bot had set on the instance itself", async () => {
    const client = fakeClient(API)
    const own = async (route: string) => ({ from: 'bot', route })
    ;(client.rest as unknown as { get: typeof own }).get = own
    hook(client, handOver())
    expect(await client.rest.get('/gateway/bot')).toMatchObject({ url: 'wss://gateway.example' })
    expect(client.rest.get).toBe(own)
  })
})

import { isLoopback } from '../../src/simulator/http-util.js'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator, guildIdAt, type SimulatorOptions } from '../../src/simulator/index.js'
import { RawClient } from './raw-client.js'

let sim: GatewaySimulator | null = null
const clients: RawClient[] = []

async function boot(options: SimulatorOptions = {}) {
  sim = new GatewaySimulator({ guilds: 4, ...options })
  const urls = await sim.start()
  const base = urls.restUrl.replace(/\/api$/, '')
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}/__sim${path}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as any }
  }
  return { sim, ...urls, base, admin }
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

describe('REST', () => {
  it('serves /gateway and /gateway/bot under /api, /api/v9 and /api/v10', async () => {
    const { restUrl, gatewayUrl } = await boot({ guilds: 2500, maxConcurrency: 16, sessionStartLimit: { total: 1000, remaining: 900 } })
    expect(gatewayUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
    for (const prefix of ['', '/v9', '/v10']) {
      const open = await fetch(`${restUrl}${prefix}/gateway`)
      expect(await open.json()).toEqual({ url: gatewayUrl })
      const res = await fetch(`${restUrl}${prefix}/gateway/bot`, { headers: { Authorization: 'Bot sim-token' } })
      expect(res.headers.get('content-type')).toBe('application/json')
      const body = (await res.json()) as any
      expect(body).toMatchObject({ url: gatewayUrl, shards: 3, session_start_limit: { total: 1000, remaining: 900, max_concurrency: 16 } })
      expect(body.session_start_limit.reset_after).toBeGreaterThan(86_000_000)
    }
  })

  it('answers 401 without a valid Bot token and 400 for an unsupported version', async () => {
    const { restUrl } = await boot()
    for (const headers of [{}, { Authorization: 'sim-token' }, { Authorization: 'Bot wrong' }] as Array<Record<string, string>>) {
      const res = await fetch(`${restUrl}/v10/gateway/bot`, { headers })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ message: '401: Unauthorized', code: 0 })
    }
    expect((await fetch(`${restUrl}/v8/gateway`)).status).toBe(400)
    expect((await fetch(`${restUrl}/v10/nope`)).status).toBe(404)
  })

  it('serves /users/@me and /applications/@me, and rounds shards up to requiredShardMultiple', async () => {
    const { restUrl } = await boot({ guilds: 1500, requiredShardMultiple: 4 })
    const auth = { headers: { Authorization: 'Bot sim-token' } }
    expect(await (await fetch(`${restUrl}/v10/users/@me`, auth)).json()).toMatchObject({ bot: true, username: 'SimBot' })
    expect(await (await fetch(`${restUrl}/v10/applications/@me`, auth)).json()).toMatchObject({ id: sim!.config().applicationId })
    expect(((await (await fetch(`${restUrl}/v10/gateway/bot`, auth)).json()) as any).shards).toBe(4)
  })

  it('advertises publicUrl when set', async () => {
    const { restUrl } = await boot({ publicUrl: 'http://10.1.2.3:9999' })
    expect(restUrl).toBe('http://10.1.2.3:9999/api')
    expect(sim!.urls().gatewayUrl).toBe('ws://10.1.2.3:9999')
  })
})

describe('admin HTTP API', () => {
  it('reports stats and config, and resets stats', async () => {
    const { admin, gatewayUrl } = await boot({ guilds: 0 })
    const c = await open(gatewayUrl)
    await c.ready({ shard: [0, 1] })
    const stats = await admin('GET', '/stats')
    expect(stats.status).toBe(200)
    expect(stats.body).toMatchObject({ identifyCount: 1, remaining: 999, sessions: { byShard: { '0/1': 1 } }, openConnections: 1 })
    expect((await admin('GET', '/config')).body).toMatchObject({ maxConcurrency: 1, guilds: 0, tokens: ['sim-token'] })
    expect((await admin('POST', '/reset-stats')).body).toEqual({ ok: true })
    expect((await admin('GET', '/stats')).body).toMatchObject({ identifies: [], identifyCount: 0, remaining: 999 })
  })

  it('configures at run time and rejects bad values with the field name', async () => {
    const { admin, restUrl } = await boot()
    const ok = await admin('POST', '/configure', { maxConcurrency: 4, sessionStartLimit: { remaining: 10 } })
    expect(ok.body).toMatchObject({ maxConcurrency: 4, sessionStartLimit: { remaining: 10 } })
    const bot = (await (await fetch(`${restUrl}/v10/gateway/bot`, { headers: { Authorization: 'Bot sim-token' } })).json()) as any
    expect(bot.session_start_limit).toMatchObject({ remaining: 10, max_concurrency: 4 })
    const bad = await admin('POST', '/configure', { windowMs: 'soon' })
    expect(bad.status).toBe(400)
    expect(bad.body).toMatchObject({ field: 'windowMs', code: 'INVALID_OPTION' })
    expect((await admin('POST', '/configure', { nope: 1 })).body.field).toBe('nope')
  })

  it('adds, lists and removes guilds, and locates their shard', async () => {
    const { admin, gatewayUrl } = await boot({ guilds: 2 })
    const c = await open(gatewayUrl)
    await c.ready({ shard: [0, 1] })
    const added = await admin('POST', '/guilds', { count: 1 })
    expect(added.body).toEqual({ added: [guildIdAt(2)] })
    expect((await c.dispatch('GUILD_CREATE')).d.id).toBe(guildIdAt(2))
    expect((await admin('POST', '/guilds', { ids: ['12345678901234567'] })).body.added).toEqual(['12345678901234567'])
    expect((await admin('GET', '/guilds')).body.count).toBe(4)
    expect((await admin('DELETE', `/guilds/${guildIdAt(0)}`)).body).toEqual({ removed: true })
    expect((await c.dispatch('GUILD_DELETE')).d).toEqual({ id: guildIdAt(0) })
    expect((await admin('GET', `/guilds/${guildIdAt(5)}/shard?total=4`)).body).toEqual({ shard: 1 })
    expect((await admin('POST', '/guilds', { ids: ['abc'] })).status).toBe(400)
  })

  it('injects dispatches and shard faults', async () => {
    const { admin, gatewayUrl } = await boot({ guilds: 0 })
    const c = await open(gatewayUrl)
    const { ready } = await c.ready({ shard: [0, 1] })
    expect((await admin('POST', '/dispatch', { event: 'CUSTOM', data: { x: 1 } })).body).toEqual({ delivered: 1 })
    expect((await c.dispatch('CUSTOM')).d).toEqual({ x: 1 })
    expect((await admin('POST', '/shards/0/heartbeat')).body).toEqual({ sent: 1 })
    expect((await c.next()).op).toBe(1)
    expect((await admin('POST', '/shards/0/zombie', { on: true })).body).toEqual({ on: true })
    expect((await admin('POST', '/shards/0/zombie', {})).status).toBe(400)
    expect((await admin('POST', '/shards/0/invalidate', { resumable: true })).body).toEqual({ sent: 1 })
    expect(await c.next()).toMatchObject({ op: 9, d: true })
    c.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: 2 } })
    await c.dispatch('RESUMED')
    expect((await admin('POST', '/shards/0/reconnect', { closeAfterMs: 5000 })).body).toEqual({ sent: 1 })
    expect((await c.next()).op).toBe(7)
    expect((await admin('POST', '/shards/0/close', { code: 4009 })).body).toEqual({ closed: 1 })
    expect((await c.closed).code).toBe(4009)
    expect((await admin('POST', '/shards/x/close', {})).status).toBe(400)
    expect((await admin('POST', '/shards/0/explode', {})).status).toBe(404)
    expect((await admin('POST', '/dispatch', {})).status).toBe(400)
  })

  it('grows and shrinks over /__sim/scale; /gateway/bot follows', async () => {
    const { admin, restUrl } = await boot({ guilds: 4, guildsPerShardRecommended: 2 })
    expect((await admin('GET', '/scale')).body).toEqual({ guilds: 4, recommendedShards: 2 })
    expect((await admin('POST', '/scale', { guilds: 9 })).body).toEqual({
      guilds: 9,
      added: 5,
      removed: 0,
      recommendedShards: 5,
      previousRecommendedShards: 2,
    })
    const bot = async () => (await (await fetch(`${restUrl}/v10/gateway/bot`, { headers: { Authorization: 'Bot sim-token' } })).json()) as any
    expect((await bot()).shards).toBe(5)
    expect((await admin('POST', '/scale', { recommendedShards: 8 })).body.recommendedShards).toBe(8)
    expect((await admin('POST', '/scale', { guilds: 1, recommendedShards: null })).body).toMatchObject({ removed: 8, recommendedShards: 1 })
    expect((await bot()).shards).toBe(1)
    expect((await admin('POST', '/scale', { guilds: 'lots' })).body).toMatchObject({ field: 'guilds' })
    expect((await admin('POST', '/scale', { shard: 1 })).status).toBe(400)
  })

  it('closes oversized running shards with 4011 over /__sim/sharding-required', async () => {
    const { admin, gatewayUrl } = await boot({ guilds: 2, maxGuildsPerShard: 2 })
    const c = await open(gatewayUrl)
    const { ready } = await c.ready({ shard: [0, 1] })
    expect((await admin('POST', '/sharding-required')).body).toEqual({ closed: [] })
    await admin('POST', '/scale', { guilds: 3 })
    expect((await admin('POST', '/sharding-required')).body).toEqual({
      closed: [{ sessionId: ready.d.session_id, shard: [0, 1], guilds: 3, connected: true }],
    })
    expect((await c.closed).code).toBe(4011)
  })

  it('reads and sets the session budget over /__sim/session-start-limit', async () => {
    const { admin, restUrl } = await boot({ maxConcurrency: 2, sessionStartLimit: { total: 20 } })
    expect((await admin('GET', '/session-start-limit')).body).toMatchObject({ total: 20, remaining: 20, max_concurrency: 2 })
    const set = await admin('POST', '/session-start-limit', { remaining: 3, resetAfterMs: 120_000 })
    expect(set.body).toMatchObject({ total: 20, remaining: 3 })
    expect(set.body.reset_after).toBeLessThanOrEqual(120_000)
    const bot = (await (await fetch(`${restUrl}/v10/gateway/bot`, { headers: { Authorization: 'Bot sim-token' } })).json()) as any
    expect(bot.session_start_limit).toMatchObject({ total: 20, remaining: 3 })
    const bad = await admin('POST', '/session-start-limit', { remaining: 21 })
    expect(bad).toMatchObject({ status: 400, body: { field: 'sessionStartLimit.remaining' } })
    expect((await admin('POST', '/session-start-limit', { nope: 1 })).body.field).toBe('sessionStartLimit.nope')
  })

  it('can be switched off', async () => {
    const { admin } = await boot({ adminHttp: 'off' })
    expect((await admin('GET', '/stats')).status).toBe(403)
  })

  // The check itself, without sending traffic to a non-loopback address (tests stay on loopback).
  it('treats only loopback callers as admins', () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true)
    for (const a of ['10.0.18.1', '192.168.1.2', 'fe80::1', '::ffff:10.0.0.1', undefined]) expect(isLoopback(a)).toBe(false)
  })
})

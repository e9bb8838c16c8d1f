import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator, guildIdAt, type SimulatorOptions } from '../../src/simulator/index.js'
import { RawClient } from './raw-client.js'

let sim: GatewaySimulator | null = null
const clients: RawClient[] = []

async function boot(options: SimulatorOptions = {}): Promise<{ sim: GatewaySimulator; url: string }> {
  sim = new GatewaySimulator({ guilds: 10, invalidSessionDelayMs: 0, ...options })
  const { gatewayUrl } = await sim.start()
  return { sim, url: gatewayUrl }
}

async function open(url: string, query?: string): Promise<RawClient> {
  const { client } = await RawClient.hello(url, query)
  clients.push(client)
  return client
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate()
  await sim?.stop()
  sim = null
})

describe('gateway protocol (raw ws client)', () => {
  it('sends HELLO, ACKs heartbeats before and after IDENTIFY', async () => {
    const { url } = await boot({ heartbeatIntervalMs: 30_000 })
    const { client, hello } = await RawClient.hello(url)
    clients.push(client)
    expect(hello).toEqual({ op: 10, d: { heartbeat_interval: 30_000 }, s: null, t: null })
    client.send({ op: 1, d: null })
    expect(await client.next()).toEqual({ op: 11, d: null, s: null, t: null })
    await client.ready({ shard: [0, 1] })
    client.send({ op: 1, d: 11 })
    expect((await client.next((f) => f.op === 11)).op).toBe(11)
  })

  // The deadline's re-arming is unit-tested with fake timers in gateway-connection.test.ts; over the wire
  // only the outcome is checked, which needs no timing assumption: no heartbeat ever comes.
  it('closes with 4000 when no heartbeat comes within heartbeatTimeoutMs', async () => {
    const { sim, url } = await boot({ heartbeatIntervalMs: 100 })
    const serverClose = once(sim, 'close')
    const client = await open(url)
    expect((await client.closed).code).toBe(4000)
    expect((await serverClose)[0]).toMatchObject({ code: 4000, initiator: 'server', shard: null })
    expect(sim.stats().closes['4000']).toBe(1)
  })

  it('sends READY then one GUILD_CREATE per guild of the shard', async () => {
    const { sim, url } = await boot({ guilds: 10 })
    const client = await open(url)
    const { ready, guildCreates } = await client.ready({ shard: [1, 2] })
    expect(ready.s).toBe(1)
    expect(ready.d).toMatchObject({
      v: 10,
      session_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      resume_gateway_url: `${sim.urls().gatewayUrl}/resume`,
      shard: [1, 2],
      application: { id: sim.config().applicationId, flags: 0 },
      user: { bot: true, username: 'SimBot' },
    })
    const expected = [1, 3, 5, 7, 9].map(guildIdAt)
    expect(ready.d.guilds).toEqual(expected.map((id) => ({ id, unavailable: true })))
    expect(guildCreates.map((f) => f.d.id)).toEqual(expected)
    expect(guildCreates.map((f) => f.s)).toEqual([2, 3, 4, 5, 6])
    expect(guildCreates[0]!.d).toMatchObject({ unavailable: false, channels: [], members: [], roles: [{ id: expected[0] }] })
    expect(sim.stats().sessions.byShard).toEqual({ '1/2': 1 })
  })

  it('sends no GUILD_CREATE without the GUILDS intent, and all guilds without a shard', async () => {
    const { url } = await boot({ guilds: 3 })
    const client = await open(url)
    client.identify({ intents: 0 })
    const ready = await client.dispatch('READY')
    expect(ready.d.guilds).toHaveLength(3)
    expect(ready.d.shard).toBeUndefined()
    client.send({ op: 1, d: 1 })
    await client.next((f) => f.op === 11)
    expect(client.frames).toEqual([])
  })

  it.each([
    ['bad token', { token: 'wrong' }, 4004],
    ['"Bot " prefix is fine but the token is not', { token: 'Bot nope' }, 4004],
    ['missing properties', { properties: undefined }, 4001],
    ['non-integer intents', { intents: 1.5 }, 4001],
    ['unknown intent bit', { intents: 1 << 18 }, 4013],
    ['intents beyond 31 bits', { intents: 2 ** 40 }, 4013],
    ['shard id >= count', { shard: [2, 2] }, 4010],
    ['shard count 0', { shard: [0, 0] }, 4010],
  ])('closes on %s', async (_name, d, code) => {
    const { url } = await boot()
    const client = await open(url)
    client.identify(d)
    expect((await client.closed).code).toBe(code)
  })

  it('accepts a "Bot " prefixed token', async () => {
    const { url } = await boot({ guilds: 0 })
    const client = await open(url)
    client.identify({ token: 'Bot sim-token' })
    expect((await client.dispatch('READY')).op).toBe(0)
  })

  it('closes 4014 for an unapproved privileged intent', async () => {
    const { url } = await boot({ intents: { approvedPrivileged: 0 } })
    const client = await open(url)
    client.identify({ intents: 1 | (1 << 1) })
    expect((await client.closed).code).toBe(4014)
  })

  it('closes 4010 when the shard count is not a multiple of requiredShardMultiple', async () => {
    const { url } = await boot({ requiredShardMultiple: 4 })
    const client = await open(url)
    client.identify({ shard: [0, 2] })
    expect((await client.closed).code).toBe(4010)
  })

  it('closes 4011 when a shard would get more than maxGuildsPerShard guilds', async () => {
    const { url } = await boot({ guilds: 10, maxGuildsPerShard: 3 })
    const a = await open(url)
    a.identify({ shard: [0, 2] })
    expect((await a.closed).code).toBe(4011)
    const b = await open(url)
    await b.ready({ shard: [0, 4] }) // 3 guilds: allowed
    expect(sim!.stats().identifyCount).toBe(1)
  })

  it('closes 4002 on invalid JSON and on payloads over 4096 bytes', async () => {
    const { url } = await boot()
    const a = await open(url)
    a.send('{not json')
    expect((await a.closed).code).toBe(4002)
    const b = await open(url)
    b.send({ op: 1, d: 'x'.repeat(4100) })
    expect((await b.closed).code).toBe(4002)
  })

  it('closes 4001 on an unknown opcode', async () => {
    const { url } = await boot()
    const client = await open(url)
    client.send({ op: 99, d: null })
    expect((await client.closed).code).toBe(4001)
  })

  it('closes 4003 on a non-identify op before authenticating', async () => {
    const { url } = await boot()
    const client = await open(url)
    client.send({ op: 3, d: { status: 'online', since: null, activities: [], afk: false } })
    expect((await client.closed).code).toBe(4003)
  })

  it('closes 4005 on a second IDENTIFY or a RESUME after authenticating', async () => {
    const { url } = await boot({ windowMs: 0 })
    const a = await open(url)
    await a.ready({ shard: [0, 1] })
    a.identify({ shard: [0, 1] })
    expect((await a.closed).code).toBe(4005)
    const b = await open(url)
    const { ready } = await b.ready({ shard: [0, 1] })
    b.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: 1 } })
    expect((await b.closed).code).toBe(4005)
  })

  it('closes 4008 past the send rate limit; heartbeats are not counted by default', async () => {
    const { sim, url } = await boot({ rateLimit: { events: 5, windowMs: 60_000 }, guilds: 0 })
    const client = await open(url)
    for (let i = 0; i < 10; i++) client.send({ op: 1, d: null })
    for (let i = 0; i < 10; i++) await client.next((f) => f.op === 11)
    client.identify() // 1
    await client.dispatch('READY')
    const presence = { op: 3, d: { status: 'online', since: null, activities: [], afk: false } }
    for (let i = 0; i < 4; i++) client.send(presence) // 2..5: allowed
    client.send({ op: 1, d: 1 })
    await client.next((f) => f.op === 11)
    client.send(presence) // 6th counted payload
    expect((await client.closed).code).toBe(4008)
    expect(sim.stats().rateLimited).toBe(1)
  })

  it('counts heartbeats when rateLimit.countHeartbeats is set', async () => {
    const { url } = await boot({ rateLimit: { events: 3, countHeartbeats: true } })
    const client = await open(url)
    for (let i = 0; i < 4; i++) client.send({ op: 1, d: null })
    expect((await client.closed).code).toBe(4008)
  })

  // How the sliding window moves is unit-tested with an injected clock (gateway-connection.test.ts); a
  // window this long cannot move during the test, so the burst is over the limit on any machine.
  it('closes 4008 on a burst with a sliding rate-limit window', async () => {
    const { sim, url } = await boot({ rateLimit: { events: 2, windowMs: 60_000, countHeartbeats: true, sliding: true } })
    const client = await open(url)
    client.send({ op: 1, d: null })
    client.send({ op: 1, d: null })
    await client.next((f) => f.op === 11)
    await client.next((f) => f.op === 11)
    client.send({ op: 1, d: null })
    expect((await client.closed).code).toBe(4008)
    expect(sim.stats().rateLimited).toBe(1)
  })

  it('sends HELLO then closes 4012 for an unsupported API version', async () => {
    const { url } = await boot()
    const client = await open(url, '?v=8&encoding=json')
    expect((await client.closed).code).toBe(4012)
  })

  it('refuses etf encoding and unknown compression at the HTTP upgrade', async () => {
    const { url } = await boot()
    await expect(RawClient.connect(url, '?v=10&encoding=etf')).rejects.toThrow('HTTP 400')
    await expect(RawClient.connect(url, '?v=10&encoding=json&compress=zstd-stream')).rejects.toThrow('HTTP 400')
  })

  it('speaks zlib-stream transport compression', async () => {
    const { url } = await boot({ guilds: 4 })
    const client = await open(url, '?v=10&encoding=json&compress=zlib-stream')
    const { guildCreates } = await client.ready({ shard: [0, 2] })
    expect(guildCreates).toHaveLength(2)
    client.send({ op: 1, d: 3 })
    expect((await client.next()).op).toBe(11)
  })

  it('answers Request Guild Members with an empty chunk', async () => {
    const { url } = await boot({ guilds: 2 })
    const client = await open(url)
    await client.ready({ shard: [0, 1] })
    client.send({ op: 8, d: { guild_id: guildIdAt(1), query: '', limit: 0, nonce: 'n1' } })
    const chunk = await client.dispatch('GUILD_MEMBERS_CHUNK')
    expect(chunk.d).toMatchObject({ guild_id: guildIdAt(1), members: [], chunk_count: 1, nonce: 'n1' })
  })
})

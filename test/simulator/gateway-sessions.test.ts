import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { GatewaySimulator, guildIdAt, type SimulatorOptions } from '../../src/simulator/index.js'
import { RawClient } from './raw-client.js'

let sim: GatewaySimulator | null = null
const clients: RawClient[] = []

async function boot(options: SimulatorOptions = {}): Promise<{ sim: GatewaySimulator; url: string }> {
  sim = new GatewaySimulator({ guilds: 4, invalidSessionDelayMs: 0, ...options })
  const { gatewayUrl } = await sim.start()
  return { sim, url: gatewayUrl }
}

async function open(url: string): Promise<RawClient> {
  const { client } = await RawClient.hello(url)
  clients.push(client)
  return client
}

/** Closes from the client side and waits until the simulator has processed the close. */
async function clientClose(s: GatewaySimulator, c: RawClient, code: number): Promise<void> {
  const seen = once(s, 'close')
  await c.close(code)
  await seen
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate()
  await sim?.stop()
  sim = null
})

describe('identify rules over the wire', () => {
  it('answers an identify inside the window with op 9 false after invalidSessionDelayMs and records it', async () => {
    // A long window: the second IDENTIFY is a violation however slowly this machine runs.
    const { sim, url } = await boot({ maxConcurrency: 1, invalidSessionDelayMs: 30, windowMs: 60_000 })
    const a = await open(url)
    await a.ready({ shard: [0, 2] })
    const b = await open(url)
    const violation = once(sim, 'violation')
    const sentAt = performance.now()
    b.identify({ shard: [1, 2] })
    expect(await b.next()).toEqual({ op: 9, d: false, s: null, t: null })
    // A lower bound only: the op 9 is held back, however late it comes on a busy machine.
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(25)
    expect((await violation)[0]).toMatchObject({ key: 0, shard: 1, total: 2 })
    const stats = sim.stats()
    expect(stats.violations).toHaveLength(1)
    expect(stats.violations[0]!.gapMs).toBeLessThan(59_900)
    expect(stats.identifies.map((i) => i.outcome)).toEqual(['accepted', 'violation'])
    expect(stats.identifyCount).toBe(1)
    expect(stats.remaining).toBe(998) // the rate-limited identify spent a session start too
    expect(stats.invalidSessions).toBe(1)
    expect(b.ws.readyState).toBe(b.ws.OPEN) // like Discord, the socket stays open
  })

  it('lets different keys identify together', async () => {
    const { sim, url } = await boot({ maxConcurrency: 2 })
    const a = await open(url)
    const b = await open(url)
    await Promise.all([a.ready({ shard: [0, 2] }), b.ready({ shard: [1, 2] })])
    expect(sim.stats()).toMatchObject({ violations: [], identifyCount: 2, sessions: { byShard: { '0/2': 1, '1/2': 1 }, duplicates: [] } })
    expect(Object.keys(sim.stats().identifiesByKey).sort()).toEqual(['0', '1'])
  })

  it('terminates every session and rotates the token when the budget is exhausted', async () => {
    const { sim, url } = await boot({ maxConcurrency: 2, sessionStartLimit: { total: 1 } })
    const a = await open(url)
    await a.ready({ shard: [0, 2] })
    const b = await open(url)
    const exhausted = once(sim, 'budgetExhausted')
    b.identify({ shard: [1, 2] })
    expect((await b.closed).code).toBe(4004)
    expect((await a.closed).code).toBe(4004)
    const [{ newToken }] = await exhausted
    expect(sim.tokens).toEqual([newToken])
    const res = await fetch(`${sim.urls().restUrl}/v10/gateway/bot`, { headers: { Authorization: 'Bot sim-token' } })
    expect(res.status).toBe(401)
    expect(sim.stats()).toMatchObject({ remaining: 0, budgetExhausted: 1, sessions: { live: [] } })
  })

  it('answers op 9 instead in invalid-session mode', async () => {
    const { sim, url } = await boot({ sessionStartLimit: { total: 0 }, budgetExhaustedMode: 'invalid-session' })
    const a = await open(url)
    a.identify({ shard: [0, 1] })
    expect(await a.next()).toMatchObject({ op: 9, d: false })
    expect(sim.stats().identifies[0]!.outcome).toBe('exhausted')
    expect(sim.tokens).toEqual(['sim-token'])
  })
})

describe('sessions and RESUME', () => {
  it('replays missed dispatches then sends RESUMED, on the /resume url', async () => {
    const { sim, url } = await boot()
    const a = await open(url)
    const { ready, guildCreates } = await a.ready({ shard: [0, 2] })
    const lastSeq = guildCreates.at(-1)!.s!
    await clientClose(sim, a, 4000)
    expect(sim.stats().sessions.live).toMatchObject([{ connected: false, shard: [0, 2] }])
    // Routed while detached: buffered for the replay.
    expect(sim.dispatch('MESSAGE_CREATE', { guild_id: guildIdAt(0), content: 'hi' })).toBe(1)
    expect(sim.dispatch('MESSAGE_CREATE', { guild_id: guildIdAt(1), content: 'other shard' })).toBe(0)
    const { client: b } = await RawClient.hello(ready.d.resume_gateway_url)
    clients.push(b)
    const resumed = once(sim, 'resume')
    b.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: lastSeq } })
    const replayed = await b.next()
    expect(replayed).toMatchObject({ op: 0, t: 'MESSAGE_CREATE', s: lastSeq + 1, d: { content: 'hi' } })
    expect(await b.next()).toMatchObject({ op: 0, t: 'RESUMED', s: lastSeq + 2 })
    expect((await resumed)[0]).toMatchObject({ replayed: 1, viaResumeUrl: true, shard: [0, 2] })
    expect(sim.stats()).toMatchObject({ resumes: 1, resumesViaResumeUrl: 1, identifyCount: 1, sessions: { byShard: { '0/2': 1 } } })
  })

  it('replays from an older seq the client still lacks', async () => {
    const { url } = await boot()
    const a = await open(url)
    const { ready } = await a.ready({ shard: [0, 1] })
    a.terminate() // abrupt drop keeps the session
    await once(sim!, 'close')
    const b = await open(url)
    b.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: 1 } })
    const frames = [await b.next(), await b.next(), await b.next(), await b.next(), await b.next()]
    expect(frames.map((f) => f.t)).toEqual(['GUILD_CREATE', 'GUILD_CREATE', 'GUILD_CREATE', 'GUILD_CREATE', 'RESUMED'])
  })

  it.each([1000, 1001])('refuses to resume after a client close with %i', async (code) => {
    const { sim, url } = await boot()
    const a = await open(url)
    const { ready } = await a.ready({ shard: [0, 1] })
    await clientClose(sim, a, code)
    expect(sim.stats().sessions.live).toEqual([])
    const b = await open(url)
    b.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: 5 } })
    expect(await b.next()).toEqual({ op: 9, d: false, s: null, t: null })
  })

  it('refuses to resume an expired session and closes 4007 on a future seq', async () => {
    const { sim, url } = await boot({ resumeWindowMs: 20, windowMs: 0 })
    const a = await open(url)
    const { ready } = await a.ready({ shard: [0, 1] })
    const ended = once(sim, 'sessionEnd')
    await clientClose(sim, a, 4000)
    expect((await ended)[0]).toMatchObject({ reason: 'expired', sessionId: ready.d.session_id })
    const b = await open(url)
    b.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: 1 } })
    expect((await b.next()).op).toBe(9)

    // A window long enough that the next session is still resumable however slow this machine is.
    sim.configure({ resumeWindowMs: 60_000 })
    const c = await open(url)
    const { ready: r2 } = await c.ready({ shard: [0, 1] })
    c.terminate()
    await once(sim, 'close')
    const d = await open(url)
    d.send({ op: 6, d: { token: 'sim-token', session_id: r2.d.session_id, seq: 999 } })
    expect((await d.closed).code).toBe(4007)
  })

  it('closes the old socket when a session resumes elsewhere', async () => {
    const { sim, url } = await boot({ guilds: 0 })
    const a = await open(url)
    const { ready } = await a.ready({ shard: [0, 1] })
    const b = await open(url)
    const resumed = once(sim, 'resume')
    b.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: 1 } })
    await b.dispatch('RESUMED')
    expect((await a.closed).code).toBe(4000)
    expect((await resumed)[0].tookOver).toBe(true)
    const stats = sim.stats()
    expect(stats.sessions.live).toMatchObject([{ connected: true }])
    // one session moved between sockets: a takeover, never a duplicate
    expect(stats.perShard['0/1']).toEqual({ identifies: 1, violations: 0, exhausted: 0, resumes: 1, takeovers: 1 })
    expect(stats.sessions).toMatchObject({ maxPerShard: 1, overlaps: [] })
  })

  it('counts duplicate sessions and routes events to every owning session of any shard count', async () => {
    const { sim, url } = await boot({ guilds: 4, windowMs: 0 })
    const a = await open(url)
    const b = await open(url)
    const c = await open(url)
    await a.ready({ shard: [1, 2] })
    await b.ready({ shard: [1, 2] })
    await c.ready({ shard: [0, 4] })
    const stats = sim.stats()
    expect(stats.sessions.byShard).toEqual({ '1/2': 2, '0/4': 1 })
    expect(stats.sessions.duplicates).toEqual(['1/2'])
    expect(sim.dispatch('TYPING_START', { guild_id: guildIdAt(1) })).toBe(2) // 1 % 2 === 1; 1 % 4 !== 0
    expect(sim.dispatch('TYPING_START', { channel_id: '1' })).toBe(1) // no guild → shard 0 only
    expect((await c.dispatch('TYPING_START')).d).toEqual({ channel_id: '1' })
    expect((await a.dispatch('TYPING_START')).d.guild_id).toBe(guildIdAt(1))
    expect((await b.dispatch('TYPING_START')).d.guild_id).toBe(guildIdAt(1))
  })

  it('keeps a session after a resumable server close, drops it after a fatal one', async () => {
    const { sim, url } = await boot({ guilds: 0, windowMs: 0 })
    const a = await open(url)
    await a.ready({ shard: [0, 1] })
    const closed = once(sim, 'close')
    expect(sim.closeShard(0, 4000)).toBe(1)
    expect((await a.closed).code).toBe(4000)
    expect((await closed)[0]).toMatchObject({ code: 4000, initiator: 'server', shard: [0, 1] })
    expect(sim.stats().sessions.live).toMatchObject([{ connected: false }])
    const b = await open(url)
    await b.ready({ shard: [1, 2] })
    const ended = once(sim, 'sessionEnd')
    sim.closeShard(1, 4010)
    expect((await b.closed).code).toBe(4010)
    expect((await ended)[0]).toMatchObject({ reason: 'server-close', shard: [1, 2] })
  })
})

describe('fault injection', () => {
  it('reconnect sends op 7 then force-closes with 4000, leaving the session resumable', async () => {
    const { sim, url } = await boot({ guilds: 0 })
    const a = await open(url)
    await a.ready({ shard: [0, 1] })
    const closed = once(sim, 'close')
    expect(sim.reconnect(0, { closeAfterMs: 10 })).toBe(1)
    expect(await a.next()).toEqual({ op: 7, d: null, s: null, t: null })
    expect((await a.closed).code).toBe(4000)
    await closed
    expect(sim.stats().sessions.live).toMatchObject([{ connected: false }])
  })

  it('invalidateSession(resumable) lets the client RESUME on the same socket', async () => {
    const { sim, url } = await boot({ guilds: 0 })
    const a = await open(url)
    const { ready } = await a.ready({ shard: [0, 1] })
    expect(sim.invalidateSession(0, true)).toBe(1)
    expect(await a.next()).toMatchObject({ op: 9, d: true })
    a.send({ op: 6, d: { token: 'sim-token', session_id: ready.d.session_id, seq: 1 } })
    expect((await a.dispatch('RESUMED')).s).toBe(2)
    expect(sim.stats().resumes).toBe(1)
  })

  it('invalidateSession(false) ends the session; the socket may IDENTIFY again', async () => {
    const { sim, url } = await boot({ guilds: 0, windowMs: 0 })
    const a = await open(url)
    await a.ready({ shard: [0, 1] })
    sim.invalidateSession(0, false)
    expect(await a.next()).toMatchObject({ op: 9, d: false })
    expect(sim.stats().sessions.live).toEqual([])
    a.identify({ shard: [0, 1] })
    await a.dispatch('READY')
    expect(sim.stats().identifyCount).toBe(2)
  })

  it('requestHeartbeat sends op 1; zombie stops the ACKs for that shard only', async () => {
    const { sim, url } = await boot({ guilds: 0, maxConcurrency: 2 })
    const a = await open(url)
    const b = await open(url)
    await a.ready({ shard: [0, 2] })
    await b.ready({ shard: [1, 2] })
    sim.zombie(0, true)
    a.send({ op: 1, d: 1 })
    b.send({ op: 1, d: 1 })
    expect((await b.next()).op).toBe(11)
    expect(sim.requestHeartbeat(0)).toBe(1)
    expect(await a.next()).toEqual({ op: 1, d: null, s: null, t: null }) // no ACK queued before it
    sim.zombie(0, false)
    a.send({ op: 1, d: 1 })
    expect((await a.next()).op).toBe(11)
  })

  it('addGuilds / removeGuild send GUILD_CREATE / GUILD_DELETE to the owning shard', async () => {
    const { sim, url } = await boot({ guilds: 2, maxConcurrency: 2 })
    const a = await open(url)
    const b = await open(url)
    await a.ready({ shard: [0, 2] })
    await b.ready({ shard: [1, 2] })
    const [id] = sim.addGuilds(1) // third generated guild: index 2 → shard 0
    expect(id).toBe(guildIdAt(2))
    expect((await a.dispatch('GUILD_CREATE')).d).toMatchObject({ id, unavailable: false })
    expect(sim.removeGuild(guildIdAt(1))).toBe(true)
    expect((await b.dispatch('GUILD_DELETE')).d).toEqual({ id: guildIdAt(1) })
    expect(sim.removeGuild('123')).toBe(false)
    expect(sim.guildIds()).toEqual([guildIdAt(0), guildIdAt(2)])
    expect(a.frames).toEqual([])
  })
})

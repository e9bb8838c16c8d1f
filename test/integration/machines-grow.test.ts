// Grow and heal (issue 10), MACHINES mode: re-shard across machines, and a lost machine's range on a spare.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { childManager, dropCerts, makeCerts, parentManager, parentOptions, startTwoChildren, stopMachines, type Certs } from '../helpers/machines.js'
import { nextEvent } from '../helpers/manager.js'
import { freePort } from '../helpers/ports.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

let certs: Certs
const proxies = new Set<TcpProxy>()
beforeAll(() => {
  certs = makeCerts(3)
})
afterAll(() => dropCerts(certs))
afterEach(async () => {
  await stopMachines()
  await Promise.all([...proxies].map((p) => p.close()))
  proxies.clear()
})

describe('MACHINES: reshard()', () => {
  it('runs the new set beside the old one on every machine, switches, then retires the old set', async () => {
    const { a, b, pa, pb, ca, cb } = await startTwoChildren(certs)
    const parent = parentManager(
      parentOptions(
        certs,
        [
          { host: '127.0.0.1', port: pa, cert: ca, mode: 'processes', from: 0, to: 1, perInstance: 1 },
          { host: '127.0.0.1', port: pb, cert: cb, mode: 'workers', from: 2, to: 3, perInstance: 1 },
        ],
        { env: { FIXTURE_IDENTIFY: '1' } },
      ),
    )
    await parent.start()
    const events: string[] = []
    let lastProgress = { ready: 0, total: 0 }
    parent.on('reshardStart', (e) => events.push(`start ${e.from.totalShards}->${e.to.totalShards}`))
    parent.on('reshardProgress', (p) => (lastProgress = p))
    parent.on('reshardDone', (e) => events.push(`done ${e.totalShards}`))
    const reshard = parent.reshard({ totalShards: 6, shardsPerInstance: 2 })
    await nextEvent(parent, 'reshardStart')
    // during the overlap the old set answers, and status() shows the new one starting
    expect(await parent.fetchClientValues('totalShards')).toEqual([4, 4, 4, 4])
    await reshard
    expect(events).toEqual(['start 4->6', 'done 6'])
    expect(lastProgress).toEqual({ ready: 6, total: 6 })
    expect(parent.totalShards).toBe(6)
    const status = parent.status()
    expect(status.reshard).toBeUndefined()
    expect(status.machines.map((m) => m.instances.map((i) => i.shards))).toEqual([[[0, 1], [2]], [[3, 4], [5]]])
    expect(await parent.broadcastEval((c) => [c.totalShards, c.active, c.instanceId])).toEqual([
      [6, true, 0],
      [6, true, 1],
      [6, true, 2],
      [6, true, 3],
    ])
    // each child runs only the new set now
    expect(a.status().machines[0].instances.map((i) => i.shards)).toEqual([[0, 1], [2]])
    expect(a.status().reshard).toBeUndefined()
    expect(b.totalShards).toBe(6)
  })
})

describe('MACHINES: a lost machine fails over to a spare', () => {
  it("moves the range with its sessions to the spare; the machine that returns runs nothing", async () => {
    const [pa, pSpare] = [await freePort(), await freePort()]
    const [ca, cSpare] = certs.children
    const a = childManager(ca, [certs.parent.certPath], '127.0.0.1', pa, { env: { FIXTURE_SESSION: '1' } })
    const spare = childManager(cSpare, [certs.parent.certPath], '127.0.0.1', pSpare, { env: { FIXTURE_SESSION: '1' } })
    await a.start()
    await spare.start()
    const proxyA = new TcpProxy({ host: '127.0.0.1', port: pa })
    proxies.add(proxyA)
    await proxyA.listen()
    const options = parentOptions(certs, [{ host: '127.0.0.1', port: proxyA.port, cert: ca, mode: 'processes', from: 0, to: 1, perInstance: 1 }]) as any
    const tls = { ...options.machines.points[0].tls, trustedConnections: [ca.certPath, cSpare.certPath] }
    options.machines.points[0].tls = tls
    options.machines.points.push({ host: '127.0.0.1', port: pSpare, spare: true, tls })
    options.machines.failover = { after: 500 }
    options.timeouts = { kill: 500 }
    const parent = parentManager(options)
    await parent.start()
    await expect.poll(() => parent.status().machines.map((m) => [m.state, m.spare ?? false])).toEqual([
      ['ready', false],
      ['spare', true],
    ])
    // sessions reported by the shards of machine A reach the parent's store
    const sessionsBefore = await parent.broadcastEval((c) => 0)
    expect(sessionsBefore).toEqual([0, 0])

    const fenced = nextEvent<Error>(a, 'error', (e: any) => e?.code === 'FENCED')
    const failover = nextEvent<any>(parent, 'machineFailover')
    proxyA.block()
    await fenced // machine A stops its own shards first: never two machines with the same shards
    let movedEarly = false
    void failover.then(() => (movedEarly = a.status().machines[0].instances.length > 0))
    await expect.poll(() => a.status().machines[0].instances).toEqual([])
    const moved = await failover
    expect(movedEarly).toBe(false)
    expect(moved).toMatchObject({ from: `127.0.0.1:${proxyA.port}`, to: `127.0.0.1:${pSpare}`, shards: [0, 1] })
    await nextEvent(parent, 'machineReady', (m) => m.machine === `127.0.0.1:${pSpare}`)
    // the spare runs shards 0-1 as instances 0-1 and got their sessions to RESUME
    expect(await parent.broadcastEval((c) => [c.machineId, c.instanceId, Object.keys(c.sessions).length])).toEqual([
      [`127.0.0.1:${pSpare}`, 0, 1],
      [`127.0.0.1:${pSpare}`, 1, 1],
    ])
    const st = parent.status().machines
    expect(st[0]).toMatchObject({ movedTo: `127.0.0.1:${pSpare}` })

    // machine A comes back: it joins as a spare and runs nothing
    const back = nextEvent(parent, 'machineConnect', (m) => m.machine === `127.0.0.1:${proxyA.port}`)
    proxyA.unblock()
    await back
    await expect.poll(() => parent.status().machines[0].state).toBe('released')
    expect(a.status().machines[0].instances).toEqual([])
    expect(await parent.fetchClientValues('instanceId')).toEqual([0, 1])
  })
})

/** Waits for `promise`, or fails naming what did not happen within `ms`. */
async function step<T>(promise: Promise<T>, what: string, ms = 25_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

describe('MACHINES with a discord.js bot against the gateway simulator', () => {
  it('re-shards across machines, then moves a lost machine to a spare: shards RESUME there, never two sessions of one shard', async () => {
    const { GatewaySimulator } = await import('../../dist/simulator.js')
    const sim = new GatewaySimulator({ guilds: 24, maxConcurrency: 2, windowMs: 200 })
    const { restUrl } = await sim.start()
    try {
      const bot = new URL('../../examples/bots/discordjs-bot.mjs', import.meta.url).pathname
      const env = { DISCORD_API_BASE: restUrl, DISCORD_TOKEN: 'sim-token', BOT_RESUME: '1' }
      const [pa, pb, ps] = [await freePort(), await freePort(), await freePort()]
      const [ca, cb, cs] = certs.children
      for (const [cert, port] of [[ca, pa], [cb, pb], [cs, ps]] as const) await childManager(cert, [certs.parent.certPath], '127.0.0.1', port, { file: bot, env }).start()
      const proxyA = new TcpProxy({ host: '127.0.0.1', port: pa })
      proxies.add(proxyA)
      await proxyA.listen()
      const options = parentOptions(
        certs,
        [
          { host: '127.0.0.1', port: proxyA.port, cert: ca, mode: 'workers', from: 0, to: 1 },
          { host: '127.0.0.1', port: pb, cert: cb, mode: 'workers', from: 2, to: 3 },
        ],
        // with a token the parent asks /gateway/bot once and hands the answer to every child's instances
        { identify: { windowMs: 200, marginMs: 50, maxConcurrency: 2 }, timeouts: { kill: 1000 }, token: 'sim-token', api: restUrl },
      ) as any
      const tls = { ...options.machines.points[0].tls, trustedConnections: [ca.certPath, cb.certPath, cs.certPath] }
      for (const p of options.machines.points) p.tls = tls
      options.machines.points.push({ host: '127.0.0.1', port: ps, spare: true, tls })
      options.machines.failover = { after: 500 }
      const parent = parentManager(options)
      // Each step says what it waited for if it does not happen (instead of the whole test timing out).
      await step(parent.start(), 'parent.start()')

      await step(parent.reshard({ totalShards: 6 }), 'parent.reshard({ totalShards: 6 })')
      let stats = sim.stats() as any
      expect(stats.violations).toEqual([])
      // the children relayed every IDENTIFY their shards reported sent
      expect(parent.status().identify!.granted).toBe(10)
      await expect.poll(() => parent.status().identify!.sendsConfirmed, { timeout: 15_000 }).toBe(10)
      expect(stats.sessions.byTotal).toEqual({ 6: 6 })
      expect(Object.values(stats.sessions.maxByShard).every((n) => n === 1)).toBe(true)
      // shards 0-2 run on machine A now; wait until their sessions reached the parent's store
      await expect.poll(() => (parent as any).backend.authority.sessions.forShards([0, 1, 2], 6), { timeout: 10_000 }).toSatisfy((s: object) => Object.keys(s).length === 3)

      const failover = nextEvent<any>(parent, 'machineFailover')
      const spareReady = nextEvent(parent, 'machineReady', (m) => m.machine === `127.0.0.1:${ps}`)
      proxyA.block()
      expect((await step(failover, 'machineFailover after machine A was cut off')).shards).toEqual([0, 1, 2])
      await step(spareReady, 'machineReady of the spare')
      stats = sim.stats() as any
      expect(stats.violations).toEqual([])
      for (const s of [0, 1, 2]) expect(stats.perShard[`${s}/6`].resumes).toBeGreaterThanOrEqual(1)
      expect(Object.values(stats.sessions.maxByShard).every((n) => n === 1)).toBe(true)
      expect(await parent.fetchClientValues('guilds.cache.size').then((v: number[]) => v.length)).toBe(4) // 0-1, 2 on the spare; 3-4, 5 on B
      // every instance on every machine (first set, re-shard, spare) logged in with the parent's /gateway/bot:
      // the only asks are the parent's own, at its start and for the re-shard's budget check
      expect(sim.stats().rest['/gateway/bot']).toBe(2)
    } finally {
      await stopMachines()
      await sim.stop()
    }
  })
})

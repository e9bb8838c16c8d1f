// Every call settles on every path (issue 7), MACHINES mode: each finding with its regression test.
import { spawn, type ChildProcess } from 'node:child_process'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkLostError } from '../../dist/index.js'
import { LinkServer } from '../../src/net/index.js'
import { childManager, dropCerts, makeCerts, parentManager, parentOptions, startTwoChildren, stopMachines, type Certs } from '../helpers/machines.js'
import { fixture, nextEvent } from '../helpers/manager.js'
import { freePort } from '../helpers/ports.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

let certs: Certs
const parents = new Set<ChildProcess>()
const proxies = new Set<TcpProxy>()
beforeAll(() => {
  certs = makeCerts(2)
})
afterAll(() => dropCerts(certs))
afterEach(async () => {
  for (const p of parents) p.kill('SIGKILL')
  parents.clear()
  await stopMachines()
  await Promise.all([...proxies].map((p) => p.close()))
  proxies.clear()
})

async function proxyTo(port: number): Promise<TcpProxy> {
  const proxy = new TcpProxy({ host: '127.0.0.1', port })
  proxies.add(proxy)
  await proxy.listen()
  return proxy
}

/** A MACHINES parent in its own process, so it can be killed like a crash; resolves once it printed ready or exited. */
function parentProcess(options: unknown): ChildProcess {
  const proc = spawn(process.execPath, [fixture('parent-process.mjs'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] })
  parents.add(proc)
  return proc
}

/**
 * A scripted child: a bare link server with the child's certificate, and a parent (in this process)
 * that assigns it shards `0..to` (not started yet).
 */
async function scriptedChild(to: number) {
  const port = await freePort()
  const [c0] = certs.children
  const fake = new LinkServer({ host: '127.0.0.1', port, nodeId: 'fake-child', tls: { cert: c0.certPath, key: c0.keyPath, trust: [certs.parent.certPath] } })
  await fake.listen()
  const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to }]))
  return { fake, parent }
}

describe('MACHINES mode: every call settles', () => {
  it.each([
    ['throw', /died \d+ times within/],
    ['fatal', /stopped for good/],
  ])('a child whose bot does "%s" at every start makes the parent start() reject; stop() then ends cleanly', async (behaviour, reason) => {
    const port = await freePort()
    const [c0] = certs.children
    await childManager(c0, [certs.parent.certPath], '127.0.0.1', port).start()
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 1 }], { env: { FIXTURE_BEHAVIOUR: behaviour }, restarts: { max: 1, baseDelay: 50, maxDelay: 100 } }))
    const gaveUp = nextEvent<any>(parent, 'instanceGaveUp')
    await expect(parent.start()).rejects.toThrow(reason)
    expect((await gaveUp).machine).toBe(`127.0.0.1:${port}`)
    await parent.stop()
  })

  it('a restarted parent takes over instances still queued behind the start gate and finishes the start', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const child = childManager(c0, [certs.parent.certPath], '127.0.0.1', port)
    await child.start()
    const options = parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 2, perInstance: 1 }], {
      identify: { windowMs: 100, marginMs: 0, maxConcurrency: 1, strategy: 'sequential' },
      env: { FIXTURE_READY_DELAY: '400' },
    })
    let spawned = 0
    child.on('instanceSpawn', () => spawned++)
    const first = parentProcess(options)
    await nextEvent(child, 'instanceSpawn')
    const queued = child.status().machines[0].instances.filter((i) => i.state === 'queued')
    expect(queued.length).toBe(2)
    const linkDown = nextEvent(child, 'debug', (d: string) => d.includes('link down'))
    first.kill('SIGKILL')
    await linkDown

    const second = parentManager(options)
    await second.start()
    expect(second.status().machines[0].instances.map((i) => i.state)).toEqual(['ready', 'ready', 'ready'])
    expect(spawned).toBe(3) // each instance started exactly once: nothing restarted, nothing left queued
  })

  it('a message too large for the link rejects at once with FRAME_TOO_LARGE, not a timeout', async () => {
    const port = await freePort()
    const [c0] = certs.children
    await childManager(c0, [certs.parent.certPath], '127.0.0.1', port).start()
    const options = parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'workers', from: 0, to: 1 }]) as any
    options.machines.link = { ...options.machines.link, maxFrameBytes: 64 * 1024 }
    const parent = parentManager(options)
    await parent.start()
    const started = performance.now()
    const err = await parent.broadcastEval((_c, ctx: string) => ctx.length, { context: 'x'.repeat(200_000), timeout: 30_000 }).catch((e) => e)
    expect(err.code).toBe('FRAME_TOO_LARGE')
    expect(performance.now() - started).toBeLessThan(30_000) // i.e. not its deadline
    expect(await parent.broadcastEval(() => 'still works', { instance: 0 })).toBe('still works')
  })

  it('a child that sends malformed messages gets refusals, never a crashed parent', async () => {
    const { fake, parent } = await scriptedChild(1)
    const errors: any[] = []
    parent.on('machineError', (e) => errors.push(e))
    const started = parent.start()
    started.catch(() => {})
    await nextEvent(fake, 'up')
    const garbage: unknown[] = [
      null,
      { t: 'status' },
      { v: 1, op: 'status', d: null },
      { v: 1, op: 'status', d: { instances: 'x', ready: true } },
      { v: 1, op: 'session', d: { shardId: 'one' } },
      { v: 1, op: 'event', d: { name: 'constructor', args: [] } },
      { v: 1, op: 'res', id: 99, d: { ok: true } },
      { v: 1, op: 'req', id: 5, k: 'bot', d: { origin: 'me' } },
      { v: 1, op: 'whatever', d: {} },
    ]
    const reply = nextEvent<any>(fake, 'message', (m) => m.op === 'res' && m.id === 5)
    for (const g of garbage) fake.send(g)
    expect((await reply).d).toMatchObject({ ok: false })
    await expect.poll(() => errors.length).toBeGreaterThanOrEqual(7)
    expect(parent.status().machines[0].state).toBe('up')
    await fake.close()
    // the fake child was reached and is gone now: stop() says it could not stop what may run there
    await expect(parent.stop()).rejects.toMatchObject({ code: 'LINK_LOST' })
  })

  it("a child's identify turn that reaches it late (a filled link) moves its key's next turn with it", async () => {
    // windowMs 200, marginMs 0, maxConcurrency 2: shards 0 and 2 share key 0
    const { fake, parent } = await scriptedChild(3)
    const grants: Record<number, number> = {}
    parent.on('identifyGrant', (g: any) => (grants[g.shardId] = g.at))
    parent.start().catch(() => {})
    await nextEvent(fake, 'up')
    const answer = (id: number) => nextEvent<any>(fake, 'message', (m) => m.op === 'res' && m.id === id)
    const first = answer(1)
    fake.send({ v: 1, op: 'req', id: 1, k: 'identify', d: { shardId: 0 } })
    expect((await first).d).toMatchObject({ ok: true })
    const second = answer(2)
    fake.send({ v: 1, op: 'req', id: 2, k: 'identify', d: { shardId: 2 } })
    // the first turn "sits in the link" for three windows before the child hands it over
    const firstAt = performance.now()
    await expect.poll(() => performance.now() - firstAt > 600, { interval: 50 }).toBe(true)
    expect(grants[2]).toBeUndefined() // the key stays closed while its last turn is on its way
    const settledAt = performance.now()
    fake.send({ v: 1, op: 'identifySettled', d: { shardId: 0 } })
    expect((await second).d).toMatchObject({ ok: true })
    // a full window after the turn was handed over (load can only make it later)
    expect(grants[2]! - settledAt).toBeGreaterThanOrEqual(199)
    await fake.close()
    await parent.stop().catch(() => {})
  })

  it("an instance's own broadcast with allowPartial gets LinkLostError entries for a machine that is unreachable", async () => {
    const [pa, pb] = [await freePort(), await freePort()]
    const [ca, cb] = certs.children
    await childManager(ca, [certs.parent.certPath], '127.0.0.1', pa).start()
    await childManager(cb, [certs.parent.certPath], '127.0.0.1', pb).start()
    const proxyB = await proxyTo(pb)
    const parent = parentManager(
      parentOptions(certs, [
        { host: '127.0.0.1', port: pa, cert: ca, mode: 'processes', from: 0, to: 1 },
        { host: '127.0.0.1', port: proxyB.port, cert: cb, mode: 'workers', from: 2, to: 3 },
      ]),
    )
    await parent.start()
    const down = nextEvent(parent, 'machineDisconnect')
    proxyB.block()
    await down
    const entries = await parent.broadcastEval(
      (c) => c.broadcastEval((x: any) => x.instanceId, { allowPartial: true, timeout: 4000 }).then((es: any[]) => es.map((e) => [e.instance, e.ok, e.ok ? e.value : e.error.code])),
      { instance: 0, timeout: 5000 },
    )
    // two instances of 2 shards: instance 0 on A answers, instance 1 on B is unreachable
    expect(entries).toEqual([
      [0, true, 0],
      [1, false, 'LINK_LOST'],
    ])
  })

  it('a call without allowPartial settles at the first failure: the child answers with it without waiting for its slower instance', async () => {
    const { a, pa, pb, ca, cb } = await startTwoChildren(certs)
    const parent = parentManager(
      parentOptions(certs, [
        { host: '127.0.0.1', port: pa, cert: ca, mode: 'processes', from: 0, to: 1, perInstance: 1 },
        { host: '127.0.0.1', port: pb, cert: cb, mode: 'workers', from: 2, to: 3, perInstance: 1 },
      ]),
    )
    await parent.start()
    // instance 0 fails at once; instance 1, on the same machine, answers only when released
    const call = parent.broadcastEval(
      (c) => (c.instanceId === 0 ? Promise.reject(new RangeError('boom on 0')) : c.instanceId === 1 ? new Promise((resolve) => ((globalThis as any).release = resolve)) : c.instanceId),
      { timeout: 20_000 },
    )
    await expect(call).rejects.toThrow('boom on 0')
    // it settled while instance 1's part was still in flight on its machine
    expect((a as any).backend.inFlight()).toBeGreaterThan(0)
    await parent.broadcastEval(() => (globalThis as any).release('late'), { instance: 1 })
    await parent.broadcastEval(() => 0, { instance: 1 })
    expect((a as any).backend.inFlight()).toBe(0)
  })

  it('traffic between instances of one machine stays on it: it works while the parent is unreachable', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const child = childManager(c0, [certs.parent.certPath], '127.0.0.1', port)
    await child.start()
    const proxy = await proxyTo(port)
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port: proxy.port, cert: c0, mode: 'processes', from: 0, to: 3 }]))
    await parent.start()
    const linkDown = nextEvent(child, 'debug', (d: string) => d.includes('link down'))
    proxy.block()
    await linkDown
    // instance 0 asks instance 1 (same machine) by instance, by shard and by machine name
    const answers = await child.broadcastEval(
      async (c) => [
        await c.broadcastEval((x: any) => x.instanceId, { instance: 1, timeout: 2000 }),
        await c.broadcastEval((x: any) => x.instanceId, { shard: 3, timeout: 2000 }),
        await c.broadcastEval((x: any) => x.instanceId, { machine: c.machineId, timeout: 2000 }),
        await c.request('ping', { instance: 1, timeout: 2000 }),
      ],
      { instance: 0 },
    )
    expect(answers).toEqual([1, 1, [0, 1], { echo: 'ping', instance: 1 }])
  })

  it('the sequential start slot of a machine that went away is released, so the others start', async () => {
    const [pa, pb] = [await freePort(), await freePort()]
    const [ca, cb] = certs.children
    await childManager(ca, [certs.parent.certPath], '127.0.0.1', pa).start()
    const proxyA = await proxyTo(pa)
    const options = parentOptions(
      certs,
      [
        { host: '127.0.0.1', port: proxyA.port, cert: ca, mode: 'processes', from: 0, to: 0, perInstance: 1 },
        { host: '127.0.0.1', port: pb, cert: cb, mode: 'processes', from: 1, to: 1, perInstance: 1 },
      ],
      { identify: { windowMs: 100, marginMs: 0, maxConcurrency: 1, strategy: 'sequential' } },
    ) as any
    // machine A's bot takes a minute to become ready, so it holds the slot
    options.machines.points[0].childManagerOptions.env = { FIXTURE_READY_DELAY: '60000' }
    const parent = parentManager(options)
    parent.start().catch(() => {})
    await nextEvent(parent, 'instanceSpawn', (i) => i.id === 0)
    const childB = childManager(cb, [certs.parent.certPath], '127.0.0.1', pb)
    const bSpawned = nextEvent<any>(parent, 'instanceSpawn', (i) => i.id === 1)
    await childB.start()
    proxyA.block() // machine A is gone; after the link's heartbeat timeout its slot is void
    expect((await bSpawned).machine).toBe(`127.0.0.1:${pb}`)
  })

  it('while the parent is away the child queues no status: a new parent gets the newest, not a backlog', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const child = childManager(c0, [certs.parent.certPath], '127.0.0.1', port)
    await child.start()
    const options = parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 1, perInstance: 1 }])
    const first = parentProcess(options)
    await nextEvent(child, 'ready')
    const linkDown = nextEvent(child, 'debug', (d: string) => d.includes('link down'))
    first.kill('SIGKILL')
    await linkDown
    // instance events while nobody is attached (each used to queue a status message); the
    // respawned instance waits for a start slot from the next parent
    const died = nextEvent(child, 'instanceDeath')
    const respawned = child.respawn(0)
    respawned.catch(() => {})
    await died
    const server = (child as any).backend.server
    const session = nextEvent<any>(server, 'session')
    const second = parentManager(options)
    await second.start()
    // statuses sent before the link went down may be unacknowledged; none was queued for the
    // instance events after it (each of them used to queue one, showing instance 0 stopping for the respawn)
    const undelivered: any[] = (await session).undelivered
    const statuses = undelivered.filter((m) => m?.op === 'status')
    expect(statuses.filter((m) => m.d.instances.some((i: any) => i.state === 'stopping' || i.state === 'idle'))).toEqual([])
    expect(undelivered.filter((m) => m?.op === 'event').length).toBeGreaterThanOrEqual(1)
    await respawned
    expect(second.status().machines[0].instances.map((i) => i.state)).toEqual(['ready', 'ready'])
  })
})

describe('MACHINES mode: a call its caller gave up on is never acted on late', () => {
  it('a send that failed with LINK_LOST while the link was down is not delivered when it comes back', async () => {
    const port = await freePort()
    const [c0] = certs.children
    await childManager(c0, [certs.parent.certPath], '127.0.0.1', port).start()
    const proxy = await proxyTo(port)
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port: proxy.port, cert: c0, mode: 'processes', from: 0, to: 1 }]))
    await parent.start()
    const down = nextEvent(parent, 'machineDisconnect')
    proxy.block()
    await down
    await expect(parent.send('too late', { instance: 0, timeout: 300 })).rejects.toMatchObject({ code: 'LINK_LOST' })
    const kept = parent.send('on time', { instance: 0, timeout: 30_000 })
    const back = nextEvent(parent, 'machineConnect')
    proxy.unblock()
    await back
    await kept
    const received = await parent.broadcastEval(() => (globalThis as any).received, { instance: 0 })
    expect(received).toEqual(['on time'])
  })
})

describe('MACHINES mode: LinkLostError is typed', () => {
  it('is exported for instanceof checks', () => {
    expect(new LinkLostError('m').code).toBe('LINK_LOST')
  })
})

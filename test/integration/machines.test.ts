import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkLostError } from '../../dist/index.js'
import { LinkClient } from '../../src/net/index.js'
import { makeCert } from '../helpers/certs.js'
import { childManager, childProcess, dropCerts, makeCerts, parentManager, parentOptions, stopMachines, type Certs } from '../helpers/machines.js'
import { fixture, nextEvent } from '../helpers/manager.js'
import { freePort } from '../helpers/ports.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

let certs: Certs
beforeAll(() => {
  certs = makeCerts(3)
})
afterAll(() => dropCerts(certs))
const parentProcs = new Set<ChildProcess>()
afterEach(async () => {
  for (const p of parentProcs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  parentProcs.clear()
  await stopMachines()
})

describe('MACHINES mode', () => {
  it('a parent drives three children (one started through the CLI, one on ::1) as one bot', async () => {
    const [p0, p1, p2] = [await freePort(), await freePort('::1'), await freePort()]
    const [c0, c1, c2] = certs.children
    const cli = await childProcess(['--host', '127.0.0.1', '--port', String(p0), '--file', fixture('basic-client.mjs'), '--cert', c0.certPath, '--key', c0.keyPath, '--trust', certs.parent.certPath])
    await childManager(c1, [certs.parent.certPath], '::1', p1).start()
    await childManager(c2, [certs.parent.certPath], '127.0.0.1', p2).start()

    const windowMs = 300
    const options = parentOptions(
      certs,
      [
        { host: '127.0.0.1', port: p0, cert: c0, mode: 'PROCESSES', from: 0, to: 3 },
        { host: '::1', port: p1, cert: c1, mode: 'workers', from: 4, to: 7 },
        { host: '127.0.0.1', port: p2, cert: c2, mode: 'processes', from: 8, to: 11 },
      ],
      { identify: { windowMs, marginMs: 0, maxConcurrency: 2 }, env: { FIXTURE_IDENTIFY: '1' } },
    )
    ;(options.machines.points[2]!.childManagerOptions as Record<string, unknown>).semiSpaceGrowthFactor = 8
    const parent = parentManager(options)
    const connected: string[] = []
    const readyMachines: string[] = []
    parent.on('machineConnect', (m) => connected.push(m.machine))
    parent.on('machineReady', (m) => readyMachines.push(m.machine))
    const log: { shardId: number; key: number; at: number }[] = []
    parent.on('identifyGrant', (g) => log.push(g))
    const t0 = Date.now()
    await parent.start()
    const startMs = Date.now() - t0
    expect(connected.sort()).toEqual([`127.0.0.1:${p0}`, `127.0.0.1:${p2}`, `[::1]:${p1}`].sort())
    expect(readyMachines).toHaveLength(3)

    // machines → instances → shards
    const status = parent.status()
    expect(status.role).toBe('parent')
    expect(status.totalShards).toBe(12)
    expect(status.machines.map((m) => [m.id, m.state, m.instances.map((i) => i.shards)])).toEqual([
      [`127.0.0.1:${p0}`, 'ready', [[0, 1], [2, 3]]],
      [`[::1]:${p1}`, 'ready', [[4, 5], [6, 7]]],
      [`127.0.0.1:${p2}`, 'ready', [[8, 9], [10, 11]]],
    ])
    expect(status.machines[1].instances.every((i) => i.threadId! > 0)).toBe(true)

    // every identify on every machine came from the parent's authority, paced per key across machines
    const grants: Record<string, number> = Object.assign({}, ...(await parent.broadcastEval(() => globalThis.grants)))
    expect(Object.keys(grants)).toHaveLength(12)
    expect(status.identify!.granted).toBe(12)
    // the parent's grant log, on its own clock: per key, never two grants inside one window
    expect(log.map((g) => g.shardId).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    for (const key of [0, 1]) {
      const ts = log.filter((g) => g.key === key).map((g) => g.at)
      for (let i = 1; i < ts.length; i++) expect(ts[i] - ts[i - 1]).toBeGreaterThanOrEqual(windowMs)
    }
    // start-up is paced by the identify schedule, not by the number of machines: 6 rounds → floor 5 windows
    const floor = 5 * windowMs
    expect(startMs).toBeGreaterThanOrEqual(floor)
    console.log(`MACHINES start-up: 12 shards on 3 machines in ${startMs} ms; identify floor ${floor} ms`)

    // reach every shard on every machine, by shard, machine and guild
    expect(await parent.broadcastEval((c) => [c.machineId, c.instanceId])).toEqual([
      [`127.0.0.1:${p0}`, 0], [`127.0.0.1:${p0}`, 1], [`[::1]:${p1}`, 2], [`[::1]:${p1}`, 3], [`127.0.0.1:${p2}`, 4], [`127.0.0.1:${p2}`, 5],
    ])
    expect(await parent.broadcastEval((c) => c.instanceId, { shard: 9 })).toBe(4)
    expect(await parent.fetchClientValues('instanceId', { machine: `[::1]:${p1}` })).toEqual([2, 3])
    const guildOnShard5 = ((BigInt(Date.now() - 1420070400000) / 12n) * 12n + 5n) << 22n
    expect(await parent.broadcastEval((c) => c.shards, { guildId: guildOnShard5.toString() })).toEqual([4, 5])

    // from an instance on one machine to every machine, and instance → instance across machines
    expect(await parent.broadcastEval((c) => c.broadcastEval((x: any) => x.machineId + '#' + x.instanceId), { instance: 0 })).toHaveLength(6)
    expect(await parent.broadcastEval((c) => c.request('hi', { instance: 5 }), { instance: 2 })).toEqual({ echo: 'hi', instance: 5 })
    const message = nextEvent<any>(parent, 'message')
    await parent.broadcastEval((c) => c.send('to the root'), { instance: 3 })
    expect(await message).toBe('to the root')

    // the parent's young-generation setting reaches each machine's instance processes, a point's own wins
    // (the flags each instance's runtime was told to set at start: src/runtime/v8-tuning.ts)
    expect(await parent.broadcastEval(() => JSON.parse(process.env.DISCORDOO_SHARDING!).v8Flags ?? [])).toEqual([
      ['--semi-space-growth-factor=4'], ['--semi-space-growth-factor=4'], [], [], ['--semi-space-growth-factor=8'], ['--semi-space-growth-factor=8'],
    ])

    // stop: shards stop everywhere, children return to standby
    await parent.stop()
    expect(cli.proc.exitCode).toBeNull()
  })

  it('a lost link keeps shards running, delivers queued messages once, fails undeliverable requests with LinkLostError, and reconnects', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const child = childManager(c0, [certs.parent.certPath], '127.0.0.1', port)
    await child.start()
    const proxy = new TcpProxy({ host: '127.0.0.1', port })
    const proxyPort = await proxy.listen()
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port: proxyPort, cert: c0, mode: 'processes', from: 0, to: 3 }]))
    await parent.start()
    const pids = child.status().machines[0].instances.map((i) => i.pid)

    const down = nextEvent<any>(parent, 'machineDisconnect')
    proxy.block()
    await down
    await expect(parent.broadcastEval((c) => c.instanceId, { instance: 0, timeout: 300 })).rejects.toBeInstanceOf(LinkLostError)
    const partial = await parent.broadcastEval((c) => c.instanceId, { timeout: 300, allowPartial: true })
    expect(partial.every((e: any) => !e.ok && e.error instanceof LinkLostError)).toBe(true)
    const queued = parent.send('queued while down', { instance: 1 })
    // the shards never stopped
    expect(child.status().machines[0].instances.map((i) => [i.pid, i.state])).toEqual(pids.map((p) => [p, 'ready']))

    const back = nextEvent<any>(parent, 'machineConnect')
    proxy.unblock()
    expect((await back).resumed).toBe(true)
    await queued
    const received = await parent.broadcastEval(() => globalThis.received, { instance: 1 })
    expect(received.filter((m: string) => m === 'queued while down')).toHaveLength(1)
    expect(child.status().machines[0].instances.map((i) => i.pid)).toEqual(pids)
    await parent.stop()
    await proxy.close()
  })

  it('a restarted parent re-adopts running children without restarting a shard', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const child = childManager(c0, [certs.parent.certPath], '127.0.0.1', port)
    await child.start()
    const options = parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 3 }])
    const first = spawn(process.execPath, [fixture('parent-process.mjs'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] })
    parentProcs.add(first) // killed after the test even if it fails before its own kill
    await new Promise<void>((resolve, reject) => {
      first.stdout!.setEncoding('utf8').on('data', (d: string) => d.includes('"ready":true') && resolve())
      first.on('exit', (code) => reject(new Error(`parent exited ${code}`)))
    })
    const before = child.status().machines[0].instances.map((i) => i.pid)
    let spawned = 0
    child.on('instanceSpawn', () => spawned++)

    const linkDown = nextEvent(child, 'debug', (d: string) => d.includes('link down'))
    first.kill('SIGKILL')
    await linkDown

    const second = parentManager(options)
    await second.start()
    expect(spawned).toBe(0)
    expect(child.status().machines[0].instances.map((i) => i.pid)).toEqual(before)
    expect(second.status().machines[0].instances.map((i) => i.state)).toEqual(['ready', 'ready'])
    expect(await second.fetchClientValues('instanceId')).toEqual([0, 1])
  })

  it('refuses strangers, second parents and garbage while it keeps serving its shards and its parent', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const dir = certs.dir
    const otherParent = makeCert(dir, 'other-parent')
    const child = childManager(c0, [certs.parent.certPath, otherParent.certPath], '127.0.0.1', port)
    await child.start()
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'workers', from: 0, to: 1 }]))
    await parent.start()
    const refusals: any[] = []
    child.on('machineError', (e) => refusals.push(e))

    // a parent whose certificate the child does not trust
    const strangerCerts = { ...certs, parent: certs.stranger }
    const stranger = parentManager(parentOptions(strangerCerts, [{ host: '127.0.0.1', port, cert: c0, mode: 'workers', from: 0, to: 1 }]))
    const strangerRefused = nextEvent(child, 'machineError')
    void stranger.start().catch(() => {})
    await strangerRefused

    // a trusted second parent while the first is attached
    const second = parentManager(parentOptions({ ...certs, parent: otherParent }, [{ host: '127.0.0.1', port, cert: c0, mode: 'workers', from: 0, to: 1 }]))
    const secondRefused = nextEvent<any>(second, 'machineError')
    void second.start().catch(() => {})
    expect((await secondRefused).reason).toMatch(/already attached|cannot take them over/)

    // plain garbage instead of TLS, from an address nothing else uses, so its own refusal is the one we see
    const garbageRefused = nextEvent<any>(child, 'machineError', (e: any) => e.address === '127.0.0.2')
    const sock = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => sock.end(Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff\xfe')))
    sock.on('error', () => {})
    expect((await garbageRefused).reason).toMatch(/TLS|handshake|refus/i)

    await Promise.all([stranger.stop(), second.stop()])
    expect(refusals.some((e) => e.address === '127.0.0.2')).toBe(true)
    expect(await parent.broadcastEval((c) => c.instanceId)).toEqual([0])
    expect(child.status().machines[0].instances.map((i) => i.state)).toEqual(['ready'])
  })

  it("carries messages over encrypted UDP when a point asks for it, and stays on TLS when the child refuses", async () => {
    const [p4, p6, pNo] = [await freePort(), await freePort('::1'), await freePort()]
    const [c0, c1, c2] = certs.children
    await childManager(c0, [certs.parent.certPath], '127.0.0.1', p4, {}, true).start()
    await childManager(c1, [certs.parent.certPath], '::1', p6, {}, true).start()
    await childManager(c2, [certs.parent.certPath], '127.0.0.1', pNo).start()
    const parent = parentManager(
      parentOptions(certs, [
        { host: '127.0.0.1', port: p4, cert: c0, mode: 'processes', from: 0, to: 1, udp: 'udp4' },
        { host: '::1', port: p6, cert: c1, mode: 'workers', from: 2, to: 3, udp: 'udp6' },
        { host: '127.0.0.1', port: pNo, cert: c2, mode: 'processes', from: 4, to: 5, udp: 'udp4' },
      ]),
    )
    const udpUp = new Set<string>()
    const bothUp = new Promise<void>((resolve) =>
      parent.on('debug', (d: string) => {
        const m = /machine (\S+): messages now travel over encrypted UDP/.exec(d)
        if (m) udpUp.add(m[1])
        if (udpUp.size === 2) resolve()
      }),
    )
    const refused = nextEvent<any>(parent, 'machineError', (e) => e.code === 'UDP')
    await parent.start()
    await bothUp
    expect((await refused).machine).toBe(`127.0.0.1:${pNo}`)
    const links = parent.status().machines.map((m) => m.link!.udp)
    expect(links).toEqual([true, true, false])
    const big = 'x'.repeat(200_000) // larger than a UDP message: goes over TLS on the same ordered session
    const results = await parent.broadcastEval((c, ctx: any) => [c.instanceId, ctx.big.length], { context: { big } })
    expect(results).toEqual([[0, 200_000], [1, 200_000], [2, 200_000]])
  })

  it('answers unknown ops with a clear reason and keeps working', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const child = childManager(c0, [certs.parent.certPath], '127.0.0.1', port)
    await child.start()
    const raw = new LinkClient({ host: '127.0.0.1', port, nodeId: 'raw-parent', tls: { cert: certs.parent.certPath, key: certs.parent.keyPath, trust: [c0.certPath] } })
    const up = nextEvent(raw, 'up')
    raw.connect()
    await up
    const complaint = nextEvent<any>(child, 'machineError', (e) => e.code === 'UNKNOWN_OP')
    raw.send({ v: 1, op: 'bogus' })
    expect((await complaint).reason).toMatch(/unknown message "bogus"/)
    const answer = nextEvent<any>(raw, 'message', (m) => m.op === 'res' && m.id === 7)
    raw.send({ v: 1, op: 'req', id: 7, k: 'explode' })
    expect((await answer).d).toMatchObject({ ok: false, error: { code: 'UNKNOWN_OP' } })
    // malformed messages from a trusted peer: each refused with a reason, none crashes the child
    const malformed: [unknown, RegExp][] = [
      [null, /decodes to null|not a message of this protocol/],
      [{ t: 'req', id: 1 }, /not a message of this protocol/],
      [{ v: 1, op: 'req', k: 'fanout' }, /request without a valid id/],
      [{ v: 1, op: 'res', id: 'x' }, /response without a valid id/],
      [{ v: 1, op: 'assign', d: { machineId: 'm', shards: [-1] } }, /assignment\./],
    ]
    for (const [msg, reason] of malformed) {
      const refused = nextEvent<any>(child, 'machineError', (e) => reason.test(e.reason))
      raw.send(msg)
      await refused
    }
    await raw.close()
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 1 }]))
    await parent.start()
    expect(await parent.fetchClientValues('shards')).toEqual([[0, 1]])
  })
})

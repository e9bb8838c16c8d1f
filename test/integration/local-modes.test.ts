import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { InstanceDiedError, NoTargetError, RemoteError, TimeoutError } from '../../dist/index.js'
import { fixture, makeManager, nextEvent, stopAll } from '../helpers/manager.js'

afterEach(stopAll)

describe.each(['processes', 'workers'] as const)('%s mode', (mode) => {
  it('starts 8 shards in 4 instances, reports status, evaluates and targets', async () => {
    const manager = makeManager({ mode, shards: 8, shardsPerInstance: 2 })
    const spawned: number[] = []
    manager.on('instanceSpawn', (i) => spawned.push(i.id))
    let readyEvent = false
    manager.on('ready', () => (readyEvent = true))
    await manager.start()
    expect(readyEvent).toBe(true)
    expect(spawned.sort()).toEqual([0, 1, 2, 3])

    const status = manager.status()
    expect(status.totalShards).toBe(8)
    const instances = status.machines[0].instances
    expect(instances.map((i) => i.shards)).toEqual([[0, 1], [2, 3], [4, 5], [6, 7]])
    for (const i of instances) {
      expect(i.state).toBe('ready')
      expect(i.shardStates.every((s) => s.state === 'ready')).toBe(true)
      if (mode === 'processes') expect(i.pid).not.toBe(process.pid)
      else expect(i.threadId).toBeGreaterThan(0)
    }

    expect(await manager.broadcastEval((c) => c.shards)).toEqual([[0, 1], [2, 3], [4, 5], [6, 7]])
    expect(await manager.broadcastEval((c) => c.instanceId, { shard: 5 })).toBe(2)
    expect(await manager.broadcastEval((c) => c.instanceId, { instance: [1, 3] })).toEqual([1, 3])
    expect(await manager.fetchClientValues('totalShards')).toEqual([8, 8, 8, 8])
    // discord.js's form: a shard id as fetchClientValues' target, from the manager and from an instance.
    expect(await manager.fetchClientValues('instanceId', 5)).toBe(2)
    expect(await manager.broadcastEval((c) => c.fetchClientValues('instanceId', 6), { shard: 0 })).toBe(3)
    // Any other non-object is refused, never read as "every instance".
    await expect(manager.fetchClientValues('instanceId', '5' as any)).rejects.toThrow('fetchClientValues(prop, target): expected a shard id or options like { shard: 0 }, got "5"')
    await expect(manager.fetchClientValues('instanceId', 1.5)).rejects.toThrow('fetchClientValues(prop, target): a shard id is an integer ≥ 0, got 1.5')
    await expect(manager.broadcastEval(() => 1, 2 as any)).rejects.toThrow('broadcastEval(fn, options): expected options like { shard: 0, timeout: 5000 }, got 2')
    await expect(manager.send('x', [1] as any)).rejects.toThrow('send(message, target): expected options like { shard: 0, timeout: 5000 }, got an array')
    expect(await manager.broadcastEval((c) => c.broadcastEval(() => 1, 'x').catch((e: Error) => `${e.name}: ${e.message}`), { shard: 0 })).toBe(
      'TypeError: broadcastEval(fn, options): expected options like { shard: 0, timeout: 5000 }, got "x"',
    )
    // A misspelt key or a malformed selector is refused too, on both sides, instead of reaching every instance.
    await expect(manager.broadcastEval(() => 1, { shards: [0] } as any)).rejects.toThrow("broadcastEval(fn, options): unknown option 'shards'; use 'shard' (one id or an array of ids)")
    await expect(manager.request('x', { shard: '1' } as any)).rejects.toThrow('request(message, target): options.shard is an id (an integer ≥ 0) or an array of ids, got "1"')
    expect(await manager.broadcastEval((c) => c.send('x', { cluster: 1 }).catch((e: Error) => `${e.name}: ${e.message}`), { shard: 0 })).toBe(
      "TypeError: send(message, target): unknown option 'cluster'; use 'instance' (a discord-hybrid-sharding cluster is an instance here)",
    )
    const guildOnShard6 = ((BigInt(Date.now() - 1420070400000) / 8n) * 8n + 6n) << 22n
    expect(await manager.broadcastEval((c) => c.shards, { guildId: guildOnShard6.toString() })).toEqual([6, 7])
    await expect(manager.broadcastEval(() => 1, { shard: 99 })).rejects.toBeInstanceOf(NoTargetError)
  })

  it('keeps one value semantics: Map, BigInt, Date, undefined, nested objects and errors', async () => {
    const manager = makeManager({ mode, shards: 2, shardsPerInstance: 1 })
    await manager.start()
    const [value] = await manager.broadcastEval(
      (_c, ctx: any) => ({ map: new Map([['k', ctx.big * 2n]]), date: new Date(ctx.at), nothing: undefined, nested: { list: [1, { deep: ctx.set }] } }),
      { context: { big: 21n, at: 1_700_000_000_000, set: new Set(['a']) }, instance: [0] },
    )
    expect(value.map).toBeInstanceOf(Map)
    expect(value.map.get('k')).toBe(42n)
    expect(value.date).toEqual(new Date(1_700_000_000_000))
    expect('nothing' in value && value.nothing === undefined).toBe(true)
    expect(value.nested).toEqual({ list: [1, { deep: new Set(['a']) }] })

    const err = await manager
      .broadcastEval(() => {
        throw new TypeError('bad thing in shard')
      }, { shard: 1 })
      .catch((e) => e)
    expect(err).toBeInstanceOf(RemoteError)
    expect(err.remoteName).toBe('TypeError')
    expect(err.message).toContain('bad thing in shard')
    expect(err.stack).toContain('bad thing in shard')

    // async results are awaited: a promise, a thenable, and a promise that rejects
    expect(await manager.broadcastEval(async (_c, ctx: any) => ctx.n + 1, { context: { n: 1 }, shard: 0 })).toBe(2)
    // no context: the function's second argument is undefined, as with discord.js
    const noContext: unknown[] = await manager.broadcastEval((_c, ctx: unknown) => ctx === undefined)
    expect(noContext).toHaveLength(manager.status().machines[0].instances.length)
    expect(noContext.every((seen) => seen === true)).toBe(true)
    const thenable = (() => ({ then: (resolve: (v: string) => void) => resolve('thenable') })) as () => unknown
    expect(await manager.broadcastEval(thenable, { shard: 0 })).toBe('thenable')
    await expect(manager.broadcastEval(async () => Promise.reject(new RangeError('later')), { shard: 1 })).rejects.toMatchObject({ remoteName: 'RangeError' })
  })

  it('settles every request: timeouts, partial results, concurrent identical evals, death', async () => {
    const manager = makeManager({ mode, shards: 4, shardsPerInstance: 1 })
    await manager.start()
    await expect(manager.broadcastEval(() => new Promise(() => {}), { shard: 0, timeout: 300 })).rejects.toBeInstanceOf(TimeoutError)

    const partial = await manager.broadcastEval(
      (c) => {
        if (c.instanceId === 2) throw new Error('only instance 2 fails')
        return c.instanceId
      },
      { allowPartial: true },
    )
    expect(partial.map((e: any) => e.ok)).toEqual([true, true, false, true])
    expect(partial[2].error.message).toContain('only instance 2 fails')
    await expect(manager.broadcastEval((c) => {
      if (c.instanceId === 2) throw new Error('x')
      return 1
    })).rejects.toThrow(/instance 2/)

    const same = () => new Promise((r) => setTimeout(() => r(Math.random()), 20))
    const [a, b] = await Promise.all([manager.broadcastEval(same, { shard: 0 }), manager.broadcastEval(same, { shard: 0 })])
    expect(a).not.toBe(b)

    // rejected because the instance died (a timeout would be a TimeoutError, after 20 s)
    const dying = manager.broadcastEval(() => new Promise(() => {}), { shard: 3, timeout: 20_000 })
    await manager.broadcastEval(() => void setTimeout(() => process.exit(3), 20), { shard: 3 })
    await expect(dying).rejects.toBeInstanceOf(InstanceDiedError)
  })

  it('many calls in flight share messages both ways, and each call gets its own answer', async () => {
    const manager = makeManager({ mode, shards: 4, shardsPerInstance: 2 })
    await manager.start()
    // Each instance counts the packs its runtime receives (on the protocol port of a worker; in a process,
    // ahead of the runtime's own interception), and the envelopes the bot's own listeners see: none,
    // as under discord.js's manager. (Built from a string: the test runner rewrites a dynamic import
    // written in this file.)
    const countPacks = new Function(`return import('node:worker_threads').then(({ parentPort, workerData }) => {
      globalThis.packs = 0
      globalThis.envelopesSeenByBot = 0
      const count = (m) => void (m?.op === 'pack' && globalThis.packs++)
      const botListener = (m) => void (m?.v === 1 && typeof m.op === 'string' && globalThis.envelopesSeenByBot++)
      if (parentPort) {
        workerData.__discordooProtocolPort.on('message', count)
        parentPort.on('message', botListener)
      } else {
        const emit = process.emit
        process.emit = function (event, ...args) {
          if (event === 'message') count(args[0])
          return emit.apply(this, [event, ...args])
        }
        process.on('message', botListener)
      }
    })`) as () => Promise<void>
    await manager.broadcastEval(countPacks)
    const calls = Array.from({ length: 300 }, (_, i) =>
      manager
        .broadcastEval(
          (c, ctx: { i: number }) => {
            if (ctx.i % 7 === 3) throw new RangeError(`call ${ctx.i} refused`)
            return c.instanceId * 1000 + ctx.i
          },
          { context: { i } },
        )
        .then(
          (v) => ({ i, v }),
          (e: RemoteError) => ({ i, e: `${e.remoteName}: ${e.message}` }),
        ),
    )
    for (const { i, v, e } of (await Promise.all(calls)) as { i: number; v?: number[]; e?: string }[]) {
      if (i % 7 === 3) expect(e).toMatch(new RegExp(`RangeError: .*call ${i} refused`))
      else expect(v).toEqual([i, 1000 + i])
    }
    // calls from inside an instance, many at once, through the manager to every instance
    const inner = await manager.broadcastEval(
      (c) => Promise.all(Array.from({ length: 100 }, (_, i) => c.broadcastEval((x: any, ctx: { i: number }) => x.instanceId * 1000 + ctx.i, { context: { i } }))),
      { instance: 0 },
    )
    expect(inner).toEqual(Array.from({ length: 100 }, (_, i) => [i, 1000 + i]))
    const packs: number[] = await manager.broadcastEval(() => (globalThis as any).packs)
    expect(packs.every((n) => n > 0)).toBe(true)
    expect(await manager.broadcastEval(() => (globalThis as any).envelopesSeenByBot)).toEqual([0, 0])
    expect(manager.status().machines[0].instances.every((i) => i.state === 'ready')).toBe(true)
  })

  it('a call without allowPartial rejects at the first failure, without waiting for the slowest instance', async () => {
    const manager = makeManager({ mode, shards: 2, shardsPerInstance: 1 })
    await manager.start()
    // Instance 1 answers only when released; instance 0 fails at once.
    const call = manager.broadcastEval(
      (c) => (c.instanceId === 0 ? Promise.reject(new RangeError('boom on 0')) : new Promise((resolve) => ((globalThis as any).release = resolve))),
      { timeout: 20_000 },
    )
    await expect(call).rejects.toThrow('boom on 0')
    // It settled while instance 1's part was still in flight (waiting for every part would have settled after it).
    expect((manager as any).backend.inFlight()).toBe(1)
    await manager.broadcastEval(() => (globalThis as any).release('late'), { instance: 1 })
    // its late answer left instance 1 before the answer to this next call did: nothing is left behind
    await manager.broadcastEval(() => 0, { instance: 1 })
    expect((manager as any).backend.inFlight()).toBe(0)
    // the same for a call made from inside an instance
    const fromInstance = await manager.broadcastEval(
      (c) =>
        c
          .broadcastEval((x: any) => (x.instanceId === 0 ? Promise.reject(new RangeError('boom from 0')) : new Promise((resolve) => ((globalThis as any).release = resolve))), { timeout: 20_000 })
          .catch((e: Error) => e.message),
      { instance: 0 },
    )
    expect(fromInstance).toContain('boom from 0')
    expect((manager as any).backend.inFlight()).toBe(1)
    await manager.broadcastEval(() => (globalThis as any).release('late'), { instance: 1 })
    await manager.broadcastEval(() => 0, { instance: 1 })
    expect((manager as any).backend.inFlight()).toBe(0)
    // with allowPartial every entry is waited for
    const partial = await manager.broadcastEval((c) => (c.instanceId === 0 ? Promise.reject(new RangeError('boom')) : 1), { allowPartial: true })
    expect(partial.map((e: any) => e.ok)).toEqual([false, true])
  })

  it('messages and requests both ways', async () => {
    const manager = makeManager({ mode, shards: 4, shardsPerInstance: 2 })
    await manager.start()
    expect(await manager.request('ping', { shard: 2 })).toEqual({ echo: 'ping', instance: 1 })
    await expect(manager.request('fail', { instance: 0 })).rejects.toThrow(/handler refused/)
    await manager.send({ hello: 1n }, { instance: 1 })
    // instance → manager message, and instance → instance request through the manager
    const gotMessage = nextEvent<any>(manager, 'message')
    await manager.broadcastEval((c) => c.send({ from: c.instanceId }), { instance: 0 })
    expect(await gotMessage).toEqual({ from: 0 })
    expect(await manager.broadcastEval((c) => c.request('q', { instance: 1 }), { instance: 0 })).toEqual({ echo: 'q', instance: 1 })
    expect(await manager.broadcastEval(() => globalThis.received, { instance: 1 })).toEqual([{ hello: 1n }])
    // broadcast(): discord.js's name for a message to every instance
    await manager.broadcast('to all')
    expect(await manager.broadcastEval(() => globalThis.received)).toEqual([['to all'], [{ hello: 1n }, 'to all']])
    manager.on('request', (req) => req.reply({ answeredBy: 'manager', to: req.from.instance }))
    expect(await manager.broadcastEval((c) => c.request('who'), { instance: 1 })).toEqual({ answeredBy: 'manager', to: 1 })
    // broadcastEval from inside an instance reaches every instance
    expect(await manager.broadcastEval((c) => c.broadcastEval((x: any) => x.instanceId), { instance: 1 })).toEqual([0, 1])
  })

  it('paces identifies through the authority: per key, FIFO, never inside a window', async () => {
    const manager = makeManager({
      mode,
      shards: 8,
      shardsPerInstance: 2,
      identify: { windowMs: 300, marginMs: 0, maxConcurrency: 2 },
      env: { FIXTURE_IDENTIFY: '1' },
    })
    // The authority's own grant log (its monotonic clock): what the schedule guarantees, free of IPC jitter.
    const log: { shardId: number; key: number; at: number }[] = []
    manager.on('identifyGrant', (g) => log.push(g))
    await manager.start()
    const received: Record<string, number> = Object.assign({}, ...(await manager.broadcastEval(() => globalThis.grants)))
    expect(Object.keys(received).map(Number).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    expect(log.map((g) => g.shardId).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    for (const key of [0, 1]) {
      const grants = log.filter((g) => g.key === key)
      expect(grants.every((g) => g.shardId % 2 === key)).toBe(true)
      // Each instance asks for its shards in order, so within a key the grants follow the request order.
      for (let i = 1; i < grants.length; i++) expect(grants[i].at - grants[i - 1].at).toBeGreaterThanOrEqual(300)
    }
    // 8 shards at concurrency 2: 4 rounds, so 3 full windows from the first grant to the last
    const ats = log.map((g) => g.at)
    expect(Math.max(...ats) - Math.min(...ats)).toBeGreaterThanOrEqual(3 * 300)
    expect(manager.status().identify!.granted).toBe(8)
  })

  it('a turn that reaches a busy instance late is not used: it asks again, and the manager says why', async () => {
    const manager = makeManager({ mode, shards: 2, shardsPerInstance: 2, identify: { windowMs: 100, marginMs: 0, maxConcurrency: 1 }, env: { FIXTURE_IDENTIFY: '1', FIXTURE_LATE_TURN_MS: '1000' } })
    const debug: string[] = []
    manager.on('debug', (line) => debug.push(line))
    await manager.start()
    // shard 0's first turn reached it ~1 s late (limit: 250 ms): it asked again before identifying
    expect(debug.filter((l) => /shard 0 \(instance 0\) asks again: its last turn reached it \d+ ms late/.test(l)).length).toBeGreaterThanOrEqual(1)
    expect(manager.status().identify!.granted).toBeGreaterThanOrEqual(3)
    expect(Object.keys(Object.assign({}, ...(await manager.broadcastEval(() => globalThis.grants))))).toEqual(['0', '1'])
  })

  it('respawns a crashed instance with backoff and hands over its sessions', async () => {
    const manager = makeManager({ mode, shards: 4, shardsPerInstance: 2, env: { FIXTURE_SESSION: '1' } })
    await manager.start()
    const before = await manager.broadcastEval((c) => ({ ...c.sessions }), { instance: 1 })
    expect(before).toEqual({})
    // wait until the manager holds the sessions the instance reported
    const sessionsOf = () => manager.broadcastEval(() => 0, { instance: 1 })
    await sessionsOf()
    const death = nextEvent<any>(manager, 'instanceDeath', (i) => i.id === 1)
    const respawned = nextEvent<any>(manager, 'instanceRespawn', (i) => i.id === 1)
    const ready = nextEvent<any>(manager, 'instanceReady', (i) => i.id === 1)
    await manager.broadcastEval(() => void setTimeout(() => process.exit(3), 10), { instance: 1 })
    expect((await death).reason).toMatch(/code 3/)
    expect((await respawned).restarts).toBe(1)
    await ready
    const after = await manager.broadcastEval((c) => c.sessions, { instance: 1 })
    expect(Object.keys(after).sort()).toEqual(['2', '3'])
    expect(after[2].sessionId).toMatch(/^s2-/)
  })

  it('kills and respawns an instance whose event loop hangs', async () => {
    const manager = makeManager({ mode, shards: 2, shardsPerInstance: 1, timeouts: { heartbeatInterval: 200, heartbeat: 2000, kill: 1000 } })
    await manager.start()
    const errors: Error[] = []
    manager.on('error', (e) => errors.push(e))
    const death = nextEvent<any>(manager, 'instanceDeath', (i) => i.id === 0)
    const ready = nextEvent<any>(manager, 'instanceReady', (i) => i.id === 0)
    await manager.send('hang', { instance: 0 })
    await death
    await ready
    expect(errors.some((e) => /no heartbeat/.test(e.message))).toBe(true)
    expect(await manager.broadcastEval((c) => c.instanceId, { instance: 0 })).toBe(0)
  })

  it.each([
    ['throw', /fixture failed at start/],
    ['exit', /code 7/],
  ])('a client file that does "%s" gets a clear error, backoff, then gives up', async (behaviour, reason) => {
    const manager = makeManager({ mode, shards: 1, env: { FIXTURE_BEHAVIOUR: behaviour }, restarts: { max: 2, baseDelay: 100, maxDelay: 400 } })
    const deaths: any[] = []
    const errors: Error[] = []
    manager.on('instanceDeath', (d) => deaths.push(d))
    manager.on('error', (e) => errors.push(e))
    const gaveUp = nextEvent<any>(manager, 'instanceGaveUp')
    const t0 = Date.now()
    await expect(manager.start()).rejects.toThrow()
    const g = await gaveUp
    expect(g.reason).toBe('restarts')
    expect(deaths).toHaveLength(3)
    expect(deaths.every((d) => reason.test(d.reason) || (mode === 'workers' && behaviour === 'exit'))).toBe(true)
    // backoff (equal jitter): the two restarts waited at least 25 + 50 ms; a lower bound no load can break
    expect(Date.now() - t0).toBeGreaterThanOrEqual(75)
    expect(errors.some((e) => /restarts\.max/.test(e.message))).toBe(true)
  })

  it('restarts an instance that never becomes ready', async () => {
    const manager = makeManager({ mode, shards: 1, env: { FIXTURE_BEHAVIOUR: 'never-ready' }, timeouts: { ready: 400, kill: 500 }, restarts: { max: 1 } })
    const errors: Error[] = []
    manager.on('error', (e) => errors.push(e))
    await expect(manager.start()).rejects.toThrow()
    expect(errors.some((e) => e instanceof TimeoutError && /no start-up progress/.test(e.message))).toBe(true)
  })

  it("warns when a listener for discord.js's 'shardCreate' is added, and names the event to use", async () => {
    const manager = makeManager({ mode, shards: 1 })
    const warned = new Promise<Error & { code?: string }>((resolve) => {
      const onWarning = (w: Error & { code?: string }) => {
        if (w.code !== 'DISCORDOO_SHARDCREATE') return
        process.off('warning', onWarning)
        resolve(w)
      }
      process.on('warning', onWarning)
    })
    manager.on('shardCreate', () => {})
    expect((await warned).message).toBe(
      "'shardCreate' is discord.js's ShardingManager event and is never emitted here; listen to 'instanceSpawn' (one per process or worker, with its shards)",
    )
  })

  it('refuses to spawn managers recursively from inside an instance', async () => {
    const manager = makeManager({ mode, shards: 1, file: fixture('spawn-loop-client.mjs'), respawn: false })
    const death = nextEvent<any>(manager, 'instanceDeath')
    void manager.start().catch(() => {})
    expect((await death).reason).toMatch(/inside a shard instance/)
  })

  it('rolling restart and graceful stop', async () => {
    const manager = makeManager({ mode, shards: 4, shardsPerInstance: 2 })
    await manager.start()
    const order: string[] = []
    manager.on('instanceDeath', (i) => order.push(`death ${i.id}`))
    manager.on('instanceReady', (i) => order.push(`ready ${i.id}`))
    await manager.rollingRestart()
    expect(order).toEqual(['death 0', 'ready 0', 'death 1', 'ready 1'])
    await manager.respawnAll() // discord.js's name
    expect(order).toEqual(['death 0', 'ready 0', 'death 1', 'ready 1', 'death 0', 'ready 0', 'death 1', 'ready 1'])
    await manager.stop()
    expect(manager.status().machines[0].instances.every((i) => i.state === 'stopped' && i.pid === null)).toBe(true)
  })

  it('start() resolves only when every instance is ready at once, not merely ready once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dsm-crash-once-'))
    const manager = makeManager({ mode, shards: 2, env: { FIXTURE_CRASH_ONCE_DIR: dir } })
    const deaths: number[] = []
    manager.on('instanceDeath', (i) => deaths.push(i.id))
    await manager.start()
    expect(deaths).toEqual([0])
    expect(manager.status().machines[0].instances.map((i) => i.state)).toEqual(['ready', 'ready'])
    expect(await manager.fetchClientValues('instanceId')).toEqual([0, 1])
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('the young generation of instance processes (semiSpaceGrowthFactor)', () => {
  // The instance's runtime sets the flag (src/runtime/v8-tuning.ts) and says so in debug; V8's flags cannot
  // be read back, so the debug line and the instance's own command line are what the test sees.
  const track = (manager: ReturnType<typeof makeManager>) => {
    const lines: string[] = []
    manager.on('debug', (line: string) => line.includes('V8 flags set at start') && lines.push(line))
    return lines
  }
  const commandLineOf = (manager: ReturnType<typeof makeManager>): Promise<string[][]> =>
    manager.broadcastEval(() => process.execArgv.filter((a) => /semi[-_]space/.test(a)))

  it('PROCESSES mode starts each instance with a young generation that grows 4 times at a time', async () => {
    const manager = makeManager({ mode: 'processes', shards: 2, shardsPerInstance: 1 })
    const lines = track(manager)
    await manager.start()
    expect(lines.map((l) => l.replace(/ \(after.*/, '')).sort()).toEqual([
      'instance 0: V8 flags set at start: --semi-space-growth-factor=4',
      'instance 1: V8 flags set at start: --semi-space-growth-factor=4',
    ])
    // set at run time, not on the command line (which would cost Node's code cache)
    expect(await commandLineOf(manager)).toEqual([[], []])
  })

  it("leaves V8's sizing alone with null, with the user's own young-generation flag, and in WORKERS mode", async () => {
    const off = makeManager({ mode: 'processes', shards: 1, semiSpaceGrowthFactor: null })
    const own = makeManager({ mode: 'processes', shards: 1, execArgv: ['--min-semi-space-size=4'] })
    const other = makeManager({ mode: 'processes', shards: 1, semiSpaceGrowthFactor: 8 })
    const workers = makeManager({ mode: 'workers', shards: 1 })
    const seen = [off, own, other, workers].map(track)
    await Promise.all([off.start(), own.start(), other.start(), workers.start()])
    expect(seen[0]).toEqual([])
    expect(seen[1]).toEqual([])
    expect(await commandLineOf(own)).toEqual([['--min-semi-space-size=4']])
    expect(seen[2].map((l) => l.replace(/ \(after.*/, ''))).toEqual(['instance 0: V8 flags set at start: --semi-space-growth-factor=8'])
    expect(seen[3]).toEqual([])
  })

  it('rejects a factor that is not a whole number from 2 to 64, naming the field', () => {
    expect(() => makeManager({ mode: 'processes', shards: 1, semiSpaceGrowthFactor: 1 })).toThrow(/semiSpaceGrowthFactor: expected an integer from 2 to 64/)
    expect(() => makeManager({ mode: 'processes', shards: 1, semiSpaceGrowthFactor: '8' as never })).toThrow(/semiSpaceGrowthFactor/)
  })
})

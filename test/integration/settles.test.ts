// Every call settles on every path (issue 7): the findings on one machine, each with its regression test.
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { NotReadyError, TimeoutError } from '../../dist/index.js'
import { fixture, makeManager, nextEvent, stopAll } from '../helpers/manager.js'

afterEach(stopAll)

/** Runs a script the way a user does (plain node, no test runner keeping it alive). */
function runScript(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  proc.stderr.setEncoding('utf8').on('data', (d) => (out += d))
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, out })))
}

describe('a plain script: the quick start with a bot that fails', () => {
  it.each(['throw', 'exit', 'import-missing'])('bot that does %s: respawns, gives up, start() rejects (no exit 13)', async (behaviour) => {
    const { code, out } = await runScript([fixture('quickstart.mjs'), behaviour])
    // Node's 13 is "unsettled top-level await": the script died with a respawn pending.
    expect(code).toBe(1)
    expect(out.match(/instanceRespawn 0/g)).toHaveLength(2)
    expect(out).toMatch(/instanceGaveUp 0 restarts/)
    expect(out).toMatch(/GAVE_UP|died 3 times/)
    expect(out).not.toMatch(/^ready$/m)
  })

  it('an API that never answers /gateway/bot: start() rejects after its time limit and the script ends', async () => {
    const api = createServer(() => {}) // accepts every request, answers none
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r))
    try {
      const { code, out } = await runScript([fixture('silent-api-start.mjs'), `http://127.0.0.1:${(api.address() as AddressInfo).port}`])
      expect(out).toMatch(/rejected GATEWAY_INFO: .*no answer within 15000 ms/)
      expect(code).toBe(1)
    } finally {
      api.closeAllConnections()
      await new Promise((r) => api.close(r))
    }
  }, 40_000)

  it('a healthy start, then stop(): the script ends by itself', async () => {
    const { code, out } = await runScript([fixture('quickstart.mjs'), 'ready', 'workers'])
    expect(out).toMatch(/ready\nstopped/)
    expect(code).toBe(0)
  })
})

describe.each(['processes', 'workers'])('%s mode: calls that used to hang or lie', (mode) => {
  it('respawn() of an instance still queued behind the start gate settles', async () => {
    const manager = makeManager({ mode, shards: 3, identify: { windowMs: 100, marginMs: 0, strategy: 'sequential' }, env: { FIXTURE_READY_DELAY: '300' } })
    const started = manager.start()
    await nextEvent(manager, 'instanceSpawn', (i) => i.id === 0)
    expect(manager.status().machines[0].instances[2].state).toBe('queued')
    await manager.respawn(2)
    await started
    expect(manager.status().machines[0].instances.map((i) => i.state)).toEqual(['ready', 'ready', 'ready'])
  })

  it('an instance that has not started yet answers NOT_READY, from the manager and from another instance', async () => {
    const manager = makeManager({ mode, shards: 3, identify: { windowMs: 100, marginMs: 0, strategy: 'sequential' }, env: { FIXTURE_READY_DELAY: '200' } })
    const started = manager.start()
    await nextEvent(manager, 'instanceReady', (i) => i.id === 0)
    const err = await manager.broadcastEval(() => 1, { instance: 2 }).catch((e) => e)
    expect(err).toBeInstanceOf(NotReadyError)
    expect(err.code).toBe('NOT_READY')
    expect(err.message).toMatch(/still being spawned/)
    const fromInstance = await manager.broadcastEval(
      (c) => c.broadcastEval(() => 1, { instance: 2 }).then(() => 'answered', (e: Error & { code?: string }) => e.code),
      { instance: 0 },
    )
    expect(fromInstance).toBe('NOT_READY')
    await started
  })

  it('a request handler that never replies holds nothing after the deadline, on either side', async () => {
    const manager = makeManager({ mode, shards: 1 })
    manager.on('request', () => {}) // the manager's listener never replies either
    await manager.start()
    await expect(manager.request('never', { instance: 0, timeout: 200 })).rejects.toBeInstanceOf(TimeoutError)
    const code = await manager.broadcastEval((c) => c.request('anything', { timeout: 200 }).catch((e: Error & { code?: string }) => e.code), { instance: 0 })
    expect(code).toBe('TIMEOUT')
    // inside the instance nothing is left (the synchronous eval asking is answered without being registered)
    const served = await manager.broadcastEval(() => (globalThis as any)[Symbol.for('discordoo-sharding.runtime')].rpc.inFlight, { instance: 0 })
    expect(served).toEqual({ calls: 0, serving: 0 })
    expect((manager as any).backend.inFlight()).toBe(0)
  })

  it('a call withdrawn with an AbortSignal rejects at once and is cancelled in the instance', async () => {
    const manager = makeManager({ mode, shards: 1 })
    await manager.start()
    const abort = new AbortController()
    const pending = manager.broadcastEval(() => new Promise(() => {}), { instance: 0, signal: abort.signal })
    abort.abort()
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' })
    // the never-settling eval was cancelled: nothing is served any more
    const served = await manager.broadcastEval(() => (globalThis as any)[Symbol.for('discordoo-sharding.runtime')].rpc.inFlight, { instance: 0 })
    expect(served).toEqual({ calls: 0, serving: 0 })
    expect((manager as any).backend.inFlight()).toBe(0)
  })

  it('stop() before the start finished rejects start() with the true reason', async () => {
    const manager = makeManager({ mode, shards: 2, identify: { windowMs: 100, marginMs: 0, strategy: 'sequential' }, env: { FIXTURE_READY_DELAY: '300' } })
    const started = manager.start()
    const settled = expect(started).rejects.toMatchObject({ code: 'ABORTED', message: expect.stringMatching(/stopped before every shard was ready/) })
    await nextEvent(manager, 'instanceSpawn')
    await manager.stop()
    await settled
  })
})

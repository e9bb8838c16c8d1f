// Harden the child manager against its parent (issue 8): malformed assignments and the operator's policy, over real links.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkClient } from '../../src/net/index.js'
import { makeCert } from '../helpers/certs.js'
import { childManager, dropCerts, makeCerts, parentManager, parentOptions, stopMachines, type Certs } from '../helpers/machines.js'
import { fixture, nextEvent } from '../helpers/manager.js'
import { assignment } from '../helpers/assignment.js'
import { freePort } from '../helpers/ports.js'

let certs: Certs
const procs = new Set<ChildProcess>()
beforeAll(() => {
  certs = makeCerts(1)
})
afterAll(() => dropCerts(certs))
afterEach(async () => {
  for (const p of procs) p.kill('SIGKILL')
  procs.clear()
  await stopMachines()
})

describe('a child manager against its parent', () => {
  it('refuses every malformed assignment before touching the running pool, and keeps serving it', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const child = childManager(c0, [certs.parent.certPath], '127.0.0.1', port)
    await child.start()
    const raw = new LinkClient({ host: '127.0.0.1', port, nodeId: 'raw-parent', tls: { cert: certs.parent.certPath, key: certs.parent.keyPath, trust: [c0.certPath] } })
    // a minimal root: every start slot and identify turn is granted at once
    raw.on('message', (m: any) => {
      if (m.op === 'req') raw.send({ v: 1, op: 'res', id: m.id, d: { ok: true, value: m.k === 'startSlot' ? { holder: m.d.holder, exclusive: false } : null } })
    })
    const up = nextEvent(raw, 'up')
    raw.connect()
    await up
    const ready = nextEvent(child, 'ready')
    raw.send({ v: 1, op: 'assign', d: assignment() })
    await ready
    const pids = child.status().machines[0].instances.map((i) => i.pid)
    const bad: Record<string, unknown>[] = [
      { shards: [-1] },
      { shards: [4096], totalShards: 4 },
      { shards: Array.from({ length: 100_000 }, (_, i) => i), totalShards: 100_000 },
      { shardsPerInstance: 0 },
      { shardsPerInstance: -1 },
      { timeouts: { ready: 60000, request: 30000, heartbeatInterval: 1, heartbeat: 0, kill: 2000 } },
      { env: { NODE_OPTIONS: '--require /tmp/evil.js' } },
      { execArgv: ['--eval=process.exit(9)'] },
    ]
    for (const patch of bad) {
      const refused = nextEvent<any>(raw, 'message', (m) => m.op === 'assigned' && m.d.refused)
      raw.send({ v: 1, op: 'assign', d: assignment(patch) })
      expect((await refused).d.refused.message).toMatch(/^assignment\./)
    }
    await raw.close()
    // the same instances, all ready: nothing was stopped by a refused assignment
    expect(child.status().machines[0].instances.map((i) => [i.pid, i.state])).toEqual(pids.map((p) => [p, 'ready']))
    expect(await child.broadcastEval((c) => c.instanceId)).toEqual([0, 1])
  })

  it('a parent that sends NODE_OPTIONS or a code-loading flag gets its assignment refused; no instance runs it', async () => {
    const port = await freePort()
    const [c0] = certs.children
    await childManager(c0, [certs.parent.certPath], '127.0.0.1', port).start()
    const marker = join(certs.dir, 'pwned')
    const payload = join(certs.dir, 'payload.cjs')
    writeFileSync(payload, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x')`)
    for (const extra of [{ env: { NODE_OPTIONS: `--require ${payload}` } }, { execArgv: ['--require', payload] }]) {
      const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 1 }], extra))
      const errors: any[] = []
      parent.on('machineError', (e) => errors.push(e))
      await expect(parent.start()).rejects.toMatchObject({ code: 'ASSIGNMENT_REFUSED' })
      expect(errors.some((e) => /--allow-(env|exec-argv)/.test(e.reason))).toBe(true)
      await parent.stop()
    }
    expect(existsSync(marker)).toBe(false)
  })

  it('with eval refused (--no-eval) broadcastEval is refused while typed requests keep working', async () => {
    const port = await freePort()
    const [c0] = certs.children
    await childManager(c0, [certs.parent.certPath], '127.0.0.1', port, {}, false, { policy: { eval: false } }).start()
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'workers', from: 0, to: 1 }]))
    await parent.start()
    await expect(parent.broadcastEval(() => process.exit(1))).rejects.toMatchObject({ code: 'EVAL_REFUSED' })
    expect(await parent.request('ping', { instance: 0 })).toEqual({ echo: 'ping', instance: 0 })
    expect(await parent.fetchClientValues('instanceId')).toEqual([0])
  })

  it('a pinned parent (--parent) is the only one that may attach', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const other = makeCert(certs.dir, 'pinned-parent')
    const child = childManager(c0, [certs.parent.certPath, other.certPath], '127.0.0.1', port, {}, false, { policy: { parent: other.certPath } })
    await child.start()
    const refused = nextEvent<any>(child, 'machineError', (e) => /accepts only the parent certificate/.test(e.reason))
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 1 }]))
    parent.start().catch(() => {})
    await refused
    const pinned = parentManager(parentOptions({ ...certs, parent: other }, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 1 }]))
    await parent.stop()
    await pinned.start()
    expect(await pinned.fetchClientValues('instanceId')).toEqual([0])
  })

  it('another trusted certificate cannot take over a running pool while its parent is away', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const other = makeCert(certs.dir, 'second-parent')
    const child = childManager(c0, [certs.parent.certPath, other.certPath], '127.0.0.1', port)
    await child.start()
    const options = parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 1 }])
    const first = spawn(process.execPath, [fixture('parent-process.mjs'), JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'inherit'] })
    procs.add(first)
    await nextEvent(child, 'ready')
    const pids = child.status().machines[0].instances.map((i) => i.pid)
    const down = nextEvent(child, 'debug', (d: string) => d.includes('link down'))
    first.kill('SIGKILL')
    await down
    const refused = nextEvent<any>(child, 'machineError', (e) => /cannot take them over/.test(e.reason))
    const intruder = parentManager(parentOptions({ ...certs, parent: other }, [{ host: '127.0.0.1', port, cert: c0, mode: 'processes', from: 0, to: 1 }]))
    intruder.start().catch(() => {})
    await refused
    await intruder.stop()
    expect(child.status().machines[0].instances.map((i) => i.pid)).toEqual(pids)
    // the real parent comes back and re-adopts
    const again = parentManager(options)
    await again.start()
    expect(child.status().machines[0].instances.map((i) => i.pid)).toEqual(pids)
  })
})

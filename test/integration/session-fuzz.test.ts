// Fuzzing inside an established session (issue 8): random messages of every op from a trusted peer,
// both ways. Neither manager may crash, and each keeps serving afterwards. Fixed seed here;
// DSM_FUZZ_MESSAGES raises the count for long runs (`npm run chaos` does).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LinkClient, LinkServer } from '../../src/net/index.js'
import { childManager, dropCerts, makeCerts, parentManager, parentOptions, stopMachines, type Certs } from '../helpers/machines.js'
import { nextEvent } from '../helpers/manager.js'
import { freePort } from '../helpers/ports.js'
import { prng } from '../helpers/prng.js'
import { assignment } from '../helpers/assignment.js'

const ITERATIONS = Number(process.env.DSM_FUZZ_MESSAGES ?? 400)
const SEED = Number(process.env.DSM_FUZZ_SEED ?? 20261129)

const OPS = ['req', 'res', 'cancel', 'assign', 'assigned', 'status', 'event', 'session', 'release', 'uncoordinated', 'bogus']
const KINDS = ['fanout', 'respawn', 'rolling', 'stopShards', 'identify', 'startSlot', 'bot', 'x']

function value(rand: () => number, depth = 0): unknown {
  const r = rand()
  if (depth > 3 || r < 0.15) return [null, undefined, true, -1, 0, 2 ** 31, 1.5, NaN, '', 'x'.repeat(Math.floor(rand() * 40))][Math.floor(rand() * 10)]
  if (r < 0.3) return Math.floor(rand() * 10_000) - 5
  if (r < 0.45) return ['processes', 'workers', 'eval', 'script', 'ready', 'failed', 'instanceReady', 'constructor', '__proto__'][Math.floor(rand() * 9)]
  if (r < 0.65) return Array.from({ length: Math.floor(rand() * 5) }, () => value(rand, depth + 1))
  const keys = ['id', 'k', 'd', 'shards', 'shardId', 'target', 'action', 'type', 'fn', 'instances', 'ready', 'session', 'holder', 'outcome', 'name', 'args', 'origin', 'botKind', 'data', 'ok', 'value', 'error', 'totalShards', 'machineId']
  const out: Record<string, unknown> = {}
  for (let i = Math.floor(rand() * 6); i > 0; i--) out[keys[Math.floor(rand() * keys.length)]] = value(rand, depth + 1)
  return out
}

function message(rand: () => number): unknown {
  if (rand() < 0.05) return value(rand)
  const m: Record<string, unknown> = { v: rand() < 0.95 ? 1 : value(rand), op: OPS[Math.floor(rand() * OPS.length)] }
  if (rand() < 0.8) m.id = rand() < 0.8 ? Math.floor(rand() * 50) : value(rand)
  if (rand() < 0.6) m.k = rand() < 0.8 ? KINDS[Math.floor(rand() * KINDS.length)] : value(rand)
  if (rand() < 0.5) m.ttl = rand() < 0.7 ? Math.floor(rand() * 2000) : value(rand)
  if (rand() < 0.9) m.d = value(rand)
  // never ask the child to stop or respawn for real with a valid request: that is not fuzz, it is an order
  if (m.op === 'req' && (m.k === 'stopShards' || m.k === 'respawn' || m.k === 'rolling')) m.k = 'x'
  return m
}

let certs: Certs
beforeAll(() => {
  certs = makeCerts(1)
})
afterAll(() => dropCerts(certs))
afterEach(stopMachines)

describe(`fuzzing established sessions (seed ${SEED}, ${ITERATIONS} messages)`, () => {
  it('a child with running shards survives random messages from its trusted parent and keeps serving', async () => {
    const port = await freePort()
    const [c0] = certs.children
    const child = childManager(c0, [certs.parent.certPath], '127.0.0.1', port)
    child.on('machineError', () => {})
    await child.start()
    const parent = parentManager(parentOptions(certs, [{ host: '127.0.0.1', port, cert: c0, mode: 'workers', from: 0, to: 1 }]))
    await parent.start()
    await parent.stop() // leaves the child in standby with no pool; the raw parent assigns a fresh one below
    const raw = new LinkClient({ host: '127.0.0.1', port, nodeId: 'fuzzing-parent', tls: { cert: certs.parent.certPath, key: certs.parent.keyPath, trust: [c0.certPath] } })
    raw.on('message', (m: any) => {
      if (m?.op === 'req') raw.send({ v: 1, op: 'res', id: m.id, d: { ok: true, value: m.k === 'startSlot' ? { holder: m.d.holder, exclusive: false } : null } })
    })
    const up = nextEvent(raw, 'up')
    raw.connect()
    await up
    const ready = nextEvent(child, 'ready')
    raw.send({
      v: 1,
      op: 'assign',
      d: assignment({ machineId: 'fuzz', mode: 'workers' }),
    })
    await ready
    const rand = prng(SEED)
    for (let i = 0; i < ITERATIONS; i++) {
      try {
        raw.send(message(rand))
      } catch {
        // a value msgpack cannot encode: not sent
      }
      if (i % 50 === 0) await new Promise((r) => setImmediate(r))
    }
    // an answered request after the storm proves the session and the pool still work
    const answer = nextEvent<any>(raw, 'message', (m) => m?.op === 'res' && m.id === 424242)
    raw.send({ v: 1, op: 'req', id: 424242, k: 'fanout', ttl: 5000, d: { action: { type: 'fetch', prop: 'instanceId' }, target: {} } })
    const res = (await answer).d
    expect(res.ok).toBe(true)
    expect(res.value.map((e: any) => e.ok)).toEqual([true, true])
    await raw.close()
  })

  it('a parent survives random messages from a trusted child and keeps serving the others', async () => {
    const [pFake, pReal] = [await freePort(), await freePort()]
    const [c0] = certs.children
    const real = childManager(c0, [certs.parent.certPath], '127.0.0.1', pReal)
    await real.start()
    const fake = new LinkServer({ host: '127.0.0.1', port: pFake, nodeId: 'fuzzing-child', tls: { cert: c0.certPath, key: c0.keyPath, trust: [certs.parent.certPath] } })
    await fake.listen()
    const parent = parentManager(
      parentOptions(certs, [
        { host: '127.0.0.1', port: pReal, cert: c0, mode: 'workers', from: 0, to: 1 },
        { host: '127.0.0.1', port: pFake, cert: c0, mode: 'workers', from: 2, to: 3 },
      ]),
    )
    parent.start().catch(() => {})
    await nextEvent(fake, 'up')
    await nextEvent(parent, 'machineReady', (m) => m.machine === `127.0.0.1:${pReal}`)
    const rand = prng(SEED + 1)
    for (let i = 0; i < ITERATIONS; i++) {
      try {
        fake.send(message(rand))
      } catch {
        // not encodable
      }
      if (i % 50 === 0) await new Promise((r) => setImmediate(r))
    }
    expect(await parent.broadcastEval((c) => c.instanceId, { machine: `127.0.0.1:${pReal}` })).toEqual([0])
    await fake.close()
  })
})

import { describe, expect, it } from 'vitest'
import { StartGate, type StartSlot } from '../../src/manager/start-gate.js'
import { FakeClock } from '../helpers/fake-clock.js'

describe('StartGate', () => {
  it('coordinated: every instance starts at once', async () => {
    const gate = new StartGate('coordinated', 5000, new FakeClock())
    const slots = await Promise.all([gate.acquire('a'), gate.acquire('b'), gate.acquire('c')])
    expect(slots.every((s) => !s.exclusive)).toBe(true)
  })

  it('sequential: next starts a window after the previous is ready', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('sequential', 5000, clock)
    const order: [string, number][] = []
    const run = async (h: string, readyAfter: number) => {
      const slot = await gate.acquire(h)
      order.push([h, clock.now()])
      setTimeoutFake(clock, readyAfter, () => gate.release(slot, 'ready'))
    }
    void run('a', 1000)
    void run('b', 2000)
    void run('c', 500)
    await clock.advance(30_000)
    expect(order).toEqual([
      ['a', 0],
      ['b', 6000],
      ['c', 13_000],
    ])
  })

  it('auto: a probe that asks for identifies switches to coordinated and releases everyone', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', 5000, clock)
    const first = await gate.acquire('a')
    expect(first.exclusive).toBe(true)
    let others = 0
    void gate.acquire('b').then(() => others++)
    void gate.acquire('c').then(() => others++)
    await clock.advance(100)
    expect(others).toBe(0)
    gate.noteCoordinatedIdentify()
    await clock.advance(0)
    expect(others).toBe(2)
    expect(gate.mode).toBe('coordinated')
    // a late release of the probe slot is harmless
    gate.release(first, 'ready')
    expect((await gate.acquire('d')).exclusive).toBe(false)
  })

  it('auto: a probe that becomes ready without identifies makes the gate start waves', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', 5000, clock)
    const first = await gate.acquire('a')
    let second = -1
    void gate.acquire('b').then(() => (second = clock.now()))
    await clock.advance(1000)
    gate.release(first, 'ready')
    expect(gate.mode).toBe('waves')
    await clock.advance(4999)
    expect(second).toBe(-1)
    await clock.advance(1)
    expect(second).toBe(6000)
  })

  it('a failed holder still gets the cool-down (its shards may have identified) and keeps probing', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', 5000, clock)
    const first = await gate.acquire('a')
    let got = false
    void gate.acquire('b').then(() => (got = true))
    gate.release(first, 'failed')
    expect(gate.mode).toBe('probing')
    await clock.advance(5000)
    expect(got).toBe(true)
  })

  it('cancelled waiters leave the queue', async () => {
    const gate = new StartGate('sequential', 5000, new FakeClock())
    await gate.acquire('a')
    const ac = new AbortController()
    const p = gate.acquire('b', ac.signal)
    ac.abort()
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' })
  })
})

describe('StartGate waves (key-aware)', () => {
  const keyOf = (s: number) => s % 4
  const WINDOW = 5000

  /** Acquires for each holder; records when each was granted (ms on the fake clock). */
  function track(gate: StartGate, clock: FakeClock) {
    const granted: Record<string, number> = {}
    const slots: Record<string, StartSlot> = {}
    const acquire = (holder: string, shards?: number[]) =>
      void gate.acquire(holder, undefined, shards).then((slot) => {
        granted[holder] = clock.now()
        slots[holder] = slot
      })
    return { granted, slots, acquire }
  }

  it('starts instances with disjoint keys together; a shared key waits a window after its holder was ready', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('waves', WINDOW, clock, { keyOf })
    const { granted, slots, acquire } = track(gate, clock)
    for (let i = 0; i < 6; i++) acquire(`i${i}`, [i])
    await clock.advance(0)
    expect(Object.keys(granted).sort()).toEqual(['i0', 'i1', 'i2', 'i3'])
    expect(Object.values(slots).every((s) => s.exclusive)).toBe(true)
    await clock.advance(1000)
    gate.release(slots.i0!, 'ready') // key 0 busy until 6000
    await clock.advance(2000)
    gate.release(slots.i1!, 'ready') // key 1 busy until 8000
    await clock.advance(20_000)
    expect(granted).toMatchObject({ i4: 6000, i5: 8000 })
  })

  it('serves waiters in order per key: a later waiter never takes a key an earlier one waits for', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('waves', WINDOW, clock, { keyOf })
    const { granted, slots, acquire } = track(gate, clock)
    acquire('a', [0])
    acquire('x', [4, 1]) // keys 0 and 1: waits for a
    acquire('y', [5]) // key 1 is free, but x asked for it first
    acquire('z', [2]) // key 2: nobody wants it, starts now
    await clock.advance(0)
    expect(Object.keys(granted).sort()).toEqual(['a', 'z'])
    await clock.advance(500)
    gate.release(slots.a!, 'ready')
    await clock.advance(WINDOW)
    expect(granted.x).toBe(5500)
    expect(granted.y).toBeUndefined()
    await clock.advance(1000)
    gate.release(slots.x!, 'failed') // a failed holder may have identified: same cool-down
    await clock.advance(WINDOW)
    expect(granted.y).toBe(6500 + WINDOW)
  })

  it("frees a key one window after the authority granted the holder's last shard of it, before the holder is ready", async () => {
    const clock = new FakeClock()
    const gate = new StartGate('waves', WINDOW, clock, { keyOf })
    const { granted, acquire } = track(gate, clock)
    acquire('a', [0, 4, 1]) // key 0 twice, key 1 once
    acquire('b', [8])
    acquire('c', [9])
    await clock.advance(100)
    gate.noteIdentify(0)
    gate.noteIdentify(1) // key 1 done at 100 → free at 5100
    await clock.advance(5250)
    gate.noteIdentify(4) // key 0 done at 5350 → free at 10 350
    await clock.advance(20_000)
    expect(granted).toEqual({ a: 0, c: 5100, b: 10_350 })
  })

  it('auto probes with a whole wave; once the whole wave asked, everyone else starts', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', WINDOW, clock, { keyOf })
    const { granted, slots, acquire } = track(gate, clock)
    for (let i = 0; i < 8; i++) acquire(`i${i}`, [i])
    await clock.advance(300)
    expect(Object.keys(granted).sort()).toEqual(['i0', 'i1', 'i2', 'i3'])
    expect(gate.mode).toBe('probing')
    gate.noteCoordinatedIdentify([2])
    await clock.advance(0)
    expect(gate.mode).toBe('coordinated')
    // the rest of the wave is still booting: starting more instances now would only slow them down
    expect(Object.keys(granted)).toHaveLength(4)
    gate.noteCoordinatedIdentify([0])
    gate.noteCoordinatedIdentify([3])
    gate.release(slots.i1!, 'ready') // a probe that finished starting counts as having asked
    await clock.advance(0)
    expect(Object.keys(granted)).toHaveLength(8)
    expect(['i4', 'i5', 'i6', 'i7'].map((h) => slots[h]!.exclusive)).toEqual([false, false, false, false])
    expect(gate.mode).toBe('coordinated')
    expect(gate.holders).toEqual([])
  })

  it('auto, coordinated: with quietMs the next round starts that long after the last probe asked, not at once', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', WINDOW, clock, { keyOf, quietMs: 150 })
    const { granted, acquire } = track(gate, clock)
    for (let i = 0; i < 8; i++) acquire(`i${i}`, [i])
    await clock.advance(1000)
    for (let i = 0; i < 3; i++) gate.noteCoordinatedIdentify([i])
    await clock.advance(200)
    gate.noteCoordinatedIdentify([3]) // the last probe asks at 1200: its send report comes right after
    await clock.advance(149)
    expect(Object.keys(granted)).toHaveLength(4)
    await clock.advance(1)
    expect([4, 5, 6, 7].map((i) => granted[`i${i}`])).toEqual([1350, 1350, 1350, 1350])
  })

  it('auto, coordinated: quietMs never holds the next round past the probes\' deadline', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', WINDOW, clock, { keyOf, quietMs: 500 })
    const { granted, acquire } = track(gate, clock)
    for (let i = 0; i < 8; i++) acquire(`i${i}`, [i])
    await clock.advance(1000)
    gate.noteCoordinatedIdentify([0]) // deadline: 2000 (as long again as the first took)
    await clock.advance(800)
    for (let i = 1; i < 4; i++) gate.noteCoordinatedIdentify([i]) // all asked at 1800; 1800 + 500 > 2000
    await clock.advance(30_000)
    expect([4, 5, 6, 7].map((i) => granted[`i${i}`])).toEqual([2000, 2000, 2000, 2000])
  })

  it('auto, coordinated: each waiting instance starts a window and a half before its shards\' first turn', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', WINDOW, clock, { keyOf })
    const { granted, acquire } = track(gate, clock)
    for (let i = 0; i < 16; i++) acquire(`i${i}`, [i]) // rounds: 0-3 → 0, 4-7 → 1, 8-11 → 2, 12-15 → 3
    acquire('unknown') // no shards: starts with the first
    await clock.advance(1000)
    for (let i = 0; i < 4; i++) gate.noteCoordinatedIdentify([i])
    await clock.advance(30_000)
    const at = (from: number) => [0, 1, 2, 3].map((k) => granted[`i${from + k}`])
    expect(at(0)).toEqual([0, 0, 0, 0])
    expect(at(4)).toEqual([1000, 1000, 1000, 1000])
    expect(at(8)).toEqual([3500, 3500, 3500, 3500]) // between round 0's turns (1000) and round 1's (6000)
    expect(at(12)).toEqual([8500, 8500, 8500, 8500])
    expect(granted.unknown).toBe(1000)
    // later starts (respawns) are not held back
    const late = await gate.acquire('respawn', undefined, [0])
    expect(late.exclusive).toBe(false)
  })

  it('auto, coordinated, every instance holding every key: one instance per window, half a window before the previous one\'s turns', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', WINDOW, clock, { keyOf })
    const { granted, acquire } = track(gate, clock)
    for (let i = 0; i < 4; i++) acquire(`i${i}`, [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3])
    await clock.advance(500)
    gate.noteCoordinatedIdentify([0])
    await clock.advance(30_000)
    expect(granted).toEqual({ i0: 0, i1: 500, i2: 3000, i3: 8000 })
  })

  it('auto, coordinated: a probe that took long to ask gives the others twice its boot time as lead', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', WINDOW, clock, { keyOf })
    const { granted, acquire } = track(gate, clock)
    for (let i = 0; i < 4; i++) acquire(`i${i}`, [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3])
    await clock.advance(4000) // the probe booted for 4 s: lead 8 s + half a window
    gate.noteCoordinatedIdentify([1])
    await clock.advance(30_000)
    expect(granted).toEqual({ i0: 0, i1: 4000, i2: 4000, i3: 8500 })
  })

  it('auto, coordinated: a probe that never asks holds the next round back only as long as the first took to ask', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', WINDOW, clock, { keyOf })
    const { granted, acquire } = track(gate, clock)
    for (let i = 0; i < 8; i++) acquire(`i${i}`, [i])
    await clock.advance(1200)
    for (let i = 0; i < 3; i++) gate.noteCoordinatedIdentify([i]) // i3 hangs in its boot
    await clock.advance(30_000)
    expect([4, 5, 6, 7].map((i) => granted[`i${i}`])).toEqual([2400, 2400, 2400, 2400])
  })

  it('auto: instances that each hold every key probe one at a time, then continue in waves', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', WINDOW, clock, { keyOf })
    const { granted, slots, acquire } = track(gate, clock)
    acquire('a', [0, 1, 2, 3])
    acquire('b', [4, 5, 6, 7])
    acquire('c', [8, 9]) // keys 0, 1: behind b
    await clock.advance(2000)
    expect(Object.keys(granted)).toEqual(['a'])
    gate.release(slots.a!, 'ready')
    expect(gate.mode).toBe('waves')
    await clock.advance(WINDOW)
    expect(granted.b).toBe(7000)
    expect(granted.c).toBeUndefined()
  })

  it('a holder that did not say its shards holds every key', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('waves', WINDOW, clock, { keyOf })
    const { granted, slots, acquire } = track(gate, clock)
    acquire('unknown')
    acquire('k1', [1])
    await clock.advance(1000)
    expect(Object.keys(granted)).toEqual(['unknown'])
    gate.release(slots.unknown!, 'ready')
    await clock.advance(WINDOW)
    expect(granted.k1).toBe(1000 + WINDOW)
  })

  it('sequential ignores keys: one instance at a time', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('sequential', WINDOW, clock, { keyOf })
    const { granted, slots, acquire } = track(gate, clock)
    acquire('a', [0])
    acquire('b', [1])
    await clock.advance(1000)
    gate.noteIdentify(0) // no effect in sequential mode
    expect(Object.keys(granted)).toEqual(['a'])
    gate.release(slots.a!, 'ready')
    await clock.advance(WINDOW)
    expect(granted.b).toBe(1000 + WINDOW)
  })

  it('a cancelled waiter stops holding back the waiters behind it', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('waves', WINDOW, clock, { keyOf })
    const { granted, acquire } = track(gate, clock)
    acquire('a', [0])
    const ac = new AbortController()
    const cancelled = gate.acquire('x', ac.signal, [4, 1])
    acquire('y', [1])
    await clock.advance(0)
    expect(granted.y).toBeUndefined()
    ac.abort()
    await expect(cancelled).rejects.toMatchObject({ code: 'ABORTED' })
    await clock.advance(0)
    expect(granted.y).toBe(0)
  })

  it('close rejects every waiter', async () => {
    const gate = new StartGate('waves', WINDOW, new FakeClock(), { keyOf })
    await gate.acquire('a', undefined, [0])
    const waiting = gate.acquire('b', undefined, [4])
    gate.close()
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' })
  })
})


function setTimeoutFake(clock: FakeClock, ms: number, fn: () => void) {
  clock.setTimeout(fn, ms)
}

import { describe, expect, it } from 'vitest'
import { StartGate } from '../../src/manager/start-gate.js'
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

  it('auto: a probe that becomes ready without identifies makes the gate sequential', async () => {
    const clock = new FakeClock()
    const gate = new StartGate('auto', 5000, clock)
    const first = await gate.acquire('a')
    let second = -1
    void gate.acquire('b').then(() => (second = clock.now()))
    await clock.advance(1000)
    gate.release(first, 'ready')
    expect(gate.mode).toBe('sequential')
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

function setTimeoutFake(clock: FakeClock, ms: number, fn: () => void) {
  clock.setTimeout(fn, ms)
}

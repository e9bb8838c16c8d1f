import { describe, expect, it } from 'vitest'
import { IdentifyScheduler } from '../../src/manager/identify-scheduler.js'
import { FakeClock } from '../helpers/fake-clock.js'

function setup(maxConcurrency: number, extra: Partial<ConstructorParameters<typeof IdentifyScheduler>[0]> = {}) {
  const clock = new FakeClock()
  const scheduler = new IdentifyScheduler({ maxConcurrency, windowMs: 5000, marginMs: 0, clock, ...extra })
  const grants: { shard: number; key: number; at: number }[] = []
  scheduler.on('grant', (g) => grants.push({ shard: g.shardId, key: g.key, at: g.at }))
  return { clock, scheduler, grants }
}

describe('IdentifyScheduler', () => {
  it.each([
    [16, 1],
    [16, 4],
    [16, 16],
    [17, 4],
    [100, 16],
  ])('%i shards at concurrency %i finish in exactly ceil(N/C) windows', async (n, c) => {
    const { clock, scheduler, grants } = setup(c)
    const all = Array.from({ length: n }, (_, s) => scheduler.acquire(s))
    await clock.advance(Math.ceil(n / c) * 5000 + 1)
    await Promise.all(all)
    expect(grants).toHaveLength(n)
    const last = Math.max(...grants.map((g) => g.at))
    expect(last).toBe((Math.ceil(n / c) - 1) * 5000)
    // never two grants for one key inside a window
    const byKey = new Map<number, number[]>()
    for (const g of grants) byKey.set(g.key, [...(byKey.get(g.key) ?? []), g.at])
    for (const times of byKey.values()) {
      for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(5000)
    }
  })

  it('is FIFO per key and runs keys in parallel', async () => {
    const { clock, scheduler, grants } = setup(2)
    for (const s of [4, 0, 2, 1, 3]) void scheduler.acquire(s)
    await clock.advance(20_000)
    expect(grants.filter((g) => g.key === 0).map((g) => g.shard)).toEqual([4, 0, 2])
    expect(grants.filter((g) => g.key === 1).map((g) => g.shard)).toEqual([1, 3])
    expect(grants.find((g) => g.shard === 1)!.at).toBe(0)
  })

  it('adds the margin to every window', async () => {
    const { clock, scheduler, grants } = setup(1, { marginMs: 250 })
    void scheduler.acquire(0)
    void scheduler.acquire(1)
    await clock.advance(6000)
    expect(grants.map((g) => g.at)).toEqual([0, 5250])
  })

  it('cancellation frees the queue slot at once', async () => {
    const { clock, scheduler, grants } = setup(1)
    void scheduler.acquire(0)
    const ac = new AbortController()
    const cancelled = scheduler.acquire(1, { signal: ac.signal })
    void scheduler.acquire(2)
    ac.abort()
    await expect(cancelled).rejects.toMatchObject({ code: 'ABORTED' })
    await clock.advance(5000)
    expect(grants.map((g) => [g.shard, g.at])).toEqual([
      [0, 0],
      [2, 5000],
    ])
    expect(scheduler.waiting()).toBe(0)
  })

  it('waits for the daily budget reset instead of exceeding it', async () => {
    const { clock, scheduler, grants } = setup(4, { budget: { total: 10, remaining: 2, resetAt: 60_000 } })
    for (let s = 0; s < 4; s++) void scheduler.acquire(s)
    await clock.advance(59_999)
    expect(grants).toHaveLength(2)
    await clock.advance(1)
    expect(grants).toHaveLength(4)
    expect(grants.slice(2).every((g) => g.at === 60_000)).toBe(true)
    expect(scheduler.stats().budget!.remaining).toBe(8)
  })

  it('keeps a full window after identifies it did not grant (markUsed)', async () => {
    const { clock, scheduler, grants } = setup(2)
    await clock.advance(1000)
    scheduler.markUsed([0, 1])
    void scheduler.acquire(2)
    await clock.advance(10_000)
    expect(grants[0].at).toBe(6000)
  })

  it('a confirmed send sets the next turn a window plus sentMarginMs after it, sooner or later than the grant\'s spacing', async () => {
    const { clock, scheduler, grants } = setup(1, { marginMs: 250, sentMarginMs: 100 })
    for (const s of [0, 1, 2, 3]) void scheduler.acquire(s)
    await clock.advance(20) // shard 0 granted at 0 and sent by 20
    scheduler.confirmSent(0)
    await clock.advance(5100) // shard 1: 20 + 5000 + 100 = 5120
    expect(grants.map((g) => g.at)).toEqual([0, 5120])
    await clock.advance(400) // shard 1's send is reported 400 ms late (a busy event loop): it may have left that late
    scheduler.confirmSent(1)
    await clock.advance(5099)
    expect(grants).toHaveLength(2) // not at 5120 + 5250: that would be 4850 ms after a send at 5520
    await clock.advance(6000)
    expect(grants.map((g) => g.at)).toEqual([0, 5120, 10_620, 15_870]) // shard 2 never confirmed: window + marginMs
    expect(scheduler.stats().sendsConfirmed).toBe(2)
  })

  it('spaces from when the report says the send left, never before the grant, and ignores an odd age', async () => {
    const { clock, scheduler, grants } = setup(1, { marginMs: 250, sentMarginMs: 100 })
    for (const s of [0, 1, 2, 3]) void scheduler.acquire(s)
    await clock.advance(40) // shard 0 granted at 0, sent at 10, its report handled at 40
    scheduler.confirmSent(0, 30)
    await clock.advance(5070) // shard 1: 10 + 5000 + 100 = 5110, not 5140
    expect(grants.map((g) => g.at)).toEqual([0, 5110])
    await clock.advance(50)
    scheduler.confirmSent(1, 60_000) // an age reaching back before the grant: the send counts at the grant
    await clock.advance(5100) // t = 10_260; shard 2 was granted at 5110 + 5100 = 10_210
    expect(grants.map((g) => g.at)).toEqual([0, 5110, 10_210])
    await clock.advance(20)
    scheduler.confirmSent(2, Number.NaN) // counts as now: 10_280 + 5100
    await clock.advance(5099)
    expect(grants).toHaveLength(3)
    await clock.advance(1)
    expect(grants.map((g) => g.at)).toEqual([0, 5110, 10_210, 15_380])
  })

  it('a report counts once per grant, and only the key\'s last grant brings its next grant forward', async () => {
    const { clock, scheduler, grants } = setup(2, { marginMs: 250, sentMarginMs: 100 })
    for (const s of [0, 2, 4]) void scheduler.acquire(s)
    await clock.advance(10)
    scheduler.confirmSent(1) // never granted: ignored
    scheduler.confirmSent(2) // not granted yet: ignored
    await clock.advance(5300) // t = 5310
    expect(grants.map((g) => g.at)).toEqual([0, 5250])
    scheduler.confirmSent(0) // counted, but shard 0 is no longer the key's last grant: nothing moves
    scheduler.confirmSent(2) // sent by 5310: shard 4 at 5310 + 5100
    scheduler.confirmSent(2) // counted once
    await clock.advance(10_000)
    expect(grants.map((g) => g.at)).toEqual([0, 5250, 10_410])
    expect(scheduler.stats().sendsConfirmed).toBe(2)
  })

  it('sentMarginMs never exceeds marginMs', () => {
    expect(new IdentifyScheduler({ maxConcurrency: 1, windowMs: 5000, marginMs: 50, sentMarginMs: 100 }).sentMarginMs).toBe(50)
  })

  it('a held grant keeps its key closed until released, then spaces the next turn from the release', async () => {
    const { clock, scheduler, grants } = setup(2, { marginMs: 250 })
    void scheduler.acquire(0, { hold: true }) // to a machine over a slow link
    void scheduler.acquire(2)
    void scheduler.acquire(1) // another key is not held
    await clock.advance(7000)
    expect(grants.map((g) => [g.shard, g.at])).toEqual([
      [0, 0],
      [1, 0],
    ])
    // the grant reached its instance 7 s after it was made (a filled link)
    scheduler.release(0)
    scheduler.release(0) // a second release changes nothing
    await clock.advance(5249)
    expect(grants).toHaveLength(2)
    await clock.advance(1)
    expect(grants.map((g) => [g.shard, g.at])).toEqual([
      [0, 0],
      [1, 0],
      [2, 12_250],
    ])
  })

  it('a release that comes promptly keeps the grant\'s own spacing, and a send report releases the hold too', async () => {
    const { clock, scheduler, grants } = setup(1, { marginMs: 250, sentMarginMs: 100 })
    void scheduler.acquire(0, { hold: true })
    void scheduler.acquire(1, { hold: true })
    void scheduler.acquire(2)
    await clock.advance(10)
    scheduler.release(0)
    await clock.advance(5300)
    expect(grants.map((g) => g.at)).toEqual([0, 5260])
    // shard 1's send report arrives without a release first: the hold ends, spacing from the report
    await clock.advance(40)
    scheduler.confirmSent(1)
    await clock.advance(5100)
    expect(grants.map((g) => g.at)).toEqual([0, 5260, 10_450]) // 5350 + 5000 + 100
  })

  it('a hold nobody releases ends after holdLimitMs, and says so', async () => {
    const { clock, scheduler, grants } = setup(1, { holdLimitMs: 30_000 })
    const expired: unknown[] = []
    scheduler.on('holdExpired', (e) => expired.push(e))
    void scheduler.acquire(0, { hold: true })
    void scheduler.acquire(1)
    await clock.advance(29_999)
    expect(grants).toHaveLength(1)
    await clock.advance(5001)
    expect(grants.map((g) => g.at)).toEqual([0, 35_000])
    expect(expired).toEqual([{ shardId: 0, key: 0, heldMs: 30_000 }])
    // releasing another shard's grant, or the expired one, changes nothing
    scheduler.releaseHeld((s) => [0, 1, 7].includes(s))
    expect(grants).toHaveLength(2)
  })

  it('close() rejects everything queued', async () => {
    const { scheduler } = setup(1)
    void scheduler.acquire(0)
    const queued = scheduler.acquire(1)
    scheduler.close()
    await expect(queued).rejects.toMatchObject({ code: 'ABORTED' })
  })
})

describe('IdentifyScheduler on the system clock', () => {
  it('keeps its windows when the wall clock jumps (it paces on a monotonic clock)', async () => {
    const s = new IdentifyScheduler({ maxConcurrency: 1, windowMs: 200, marginMs: 0 })
    const realNow = Date.now
    try {
      const t0 = performance.now() // before the first grant, so the second is at least one window later
      await s.acquire(0)
      // NTP moves the wall clock a day ahead: a Date.now()-based window would open at once.
      Date.now = () => realNow() + 86_400_000
      await s.acquire(1)
      // a lower bound: the second grant still waited its window (load can only make it later)
      expect(performance.now() - t0).toBeGreaterThanOrEqual(199)
    } finally {
      Date.now = realNow
      s.close()
    }
  })
})

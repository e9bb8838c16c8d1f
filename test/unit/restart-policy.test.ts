import { describe, expect, it } from 'vitest'
import { RestartPolicy } from '../../src/manager/restart-policy.js'

describe('RestartPolicy', () => {
  it('backs off exponentially with jitter and gives up after max per interval', () => {
    const p = new RestartPolicy({ max: 3, intervalMs: 60_000, baseDelayMs: 1000, maxDelayMs: 30_000, random: () => 1 })
    expect(p.next(0)).toEqual({ giveUp: false, delayMs: 1000, attempt: 1 })
    expect(p.next(1000)).toEqual({ giveUp: false, delayMs: 2000, attempt: 2 })
    expect(p.next(3000)).toEqual({ giveUp: false, delayMs: 4000, attempt: 3 })
    expect(p.next(7000)).toEqual({ giveUp: true, restarts: 3 })
  })

  it('jitter keeps at least half the backoff', () => {
    const p = new RestartPolicy({ max: 10, intervalMs: 60_000, baseDelayMs: 1000, maxDelayMs: 30_000, random: () => 0 })
    expect(p.next(0)).toMatchObject({ delayMs: 500 })
    expect(p.next(0)).toMatchObject({ delayMs: 1000 })
  })

  it('caps the delay and forgets restarts older than the interval', () => {
    const p = new RestartPolicy({ max: 2, intervalMs: 10_000, baseDelayMs: 20_000, maxDelayMs: 30_000, random: () => 1 })
    expect(p.next(0)).toMatchObject({ delayMs: 20_000 })
    expect(p.next(1)).toMatchObject({ delayMs: 30_000 })
    expect(p.next(2)).toMatchObject({ giveUp: true })
    expect(p.next(10_000)).toMatchObject({ giveUp: false, attempt: 2 })
  })
})

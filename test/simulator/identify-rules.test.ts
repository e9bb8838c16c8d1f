import { describe, expect, it } from 'vitest'
import { IdentifyRules } from '../../src/simulator/identify-rules.js'

function setup(opts: { maxConcurrency?: number; windowMs?: number; toleranceMs?: number; total?: number; remaining?: number; resetAfterMs?: number } = {}) {
  let now = 1_000_000
  const clock = { now: () => now, advance: (ms: number) => (now += ms) }
  const total = opts.total ?? 1000
  const rules = new IdentifyRules(
    { maxConcurrency: opts.maxConcurrency ?? 1, windowMs: opts.windowMs ?? 5000, toleranceMs: opts.toleranceMs ?? 100 },
    { total, remaining: opts.remaining ?? total, resetAfterMs: opts.resetAfterMs ?? 86_400_000 },
    clock.now,
  )
  return { rules, clock }
}

describe('IdentifyRules', () => {
  it('allows one identify per window per key and runs keys in parallel', () => {
    const { rules, clock } = setup({ maxConcurrency: 2 })
    expect(rules.evaluate(0, 4).outcome).toBe('accepted')
    expect(rules.evaluate(1, 4).outcome).toBe('accepted') // key 1
    clock.advance(1000)
    const r = rules.evaluate(2, 4) // key 0 again, 1 s later
    expect(r).toMatchObject({ key: 0, outcome: 'violation', gapMs: 1000 })
    clock.advance(4000)
    expect(rules.evaluate(2, 4)).toMatchObject({ key: 0, outcome: 'accepted', gapMs: 5000 })
    expect(rules.evaluate(3, 4)).toMatchObject({ key: 1, outcome: 'accepted', gapMs: 5000 })
    expect([...rules.acceptedByKey.get(0)!]).toEqual([1_000_000, 1_005_000])
  })

  it('accepts an identify up to toleranceMs early, not more', () => {
    const { rules, clock } = setup({ toleranceMs: 100 })
    rules.evaluate(0, 1)
    clock.advance(4900)
    expect(rules.evaluate(0, 1).outcome).toBe('accepted')
    clock.advance(4899)
    expect(rules.evaluate(0, 1)).toMatchObject({ outcome: 'violation', gapMs: 4899 })
  })

  it('does not move the window on a violation', () => {
    const { rules, clock } = setup()
    rules.evaluate(0, 1)
    clock.advance(3000)
    expect(rules.evaluate(0, 1).outcome).toBe('violation')
    clock.advance(2000) // 5 s after the accepted one, 2 s after the violation
    expect(rules.evaluate(0, 1)).toMatchObject({ outcome: 'accepted', gapMs: 5000 })
    expect(rules.violations).toEqual([{ key: 0, shard: 0, total: 1, gapMs: 3000, at: 1_003_000 }])
  })

  it('spends the budget on every validated identify, rate-limited ones included', () => {
    const { rules } = setup({ total: 10 })
    rules.evaluate(0, 1)
    rules.evaluate(0, 1) // violation
    rules.evaluate(0, 1) // violation
    expect(rules.remaining).toBe(7)
    expect(rules.identifies.map((r) => r.outcome)).toEqual(['accepted', 'violation', 'violation'])
  })

  it('reports exhaustion once remaining is 0 without spending or moving the window', () => {
    const { rules, clock } = setup({ total: 2, remaining: 1 })
    expect(rules.evaluate(0, 1).outcome).toBe('accepted')
    expect(rules.remaining).toBe(0)
    clock.advance(10_000)
    expect(rules.evaluate(0, 1).outcome).toBe('exhausted')
    expect(rules.remaining).toBe(0)
    expect(rules.acceptedByKey.get(0)).toHaveLength(1)
  })

  it('refills the budget after resetAfterMs', () => {
    const { rules, clock } = setup({ total: 3, remaining: 0, resetAfterMs: 60_000 })
    expect(rules.resetAfterMs).toBe(60_000)
    clock.advance(59_999)
    expect(rules.remaining).toBe(0)
    clock.advance(1)
    expect(rules.remaining).toBe(3)
    expect(rules.resetAfterMs).toBe(60_000)
  })

  it('counts reset_after down and starts each period where the last one ended, whoever asks when', () => {
    const { rules, clock } = setup({ total: 5, resetAfterMs: 1000 })
    rules.evaluate(0, 1)
    clock.advance(400)
    expect(rules.resetAfterMs).toBe(600)
    expect(rules.remaining).toBe(4)
    clock.advance(2_350) // nobody looked for two and a half periods
    expect(rules.remaining).toBe(5)
    expect(rules.resets).toBe(2)
    expect(rules.resetAfterMs).toBe(250) // periods end at 1000, 2000, 3000 - not 1000 after this read
    rules.evaluate(0, 1)
    clock.advance(250)
    expect(rules.remaining).toBe(5)
    expect(rules.resets).toBe(3)
    expect(rules.resetAfterMs).toBe(1000)
  })

  it('setBudget ignores undefined fields and restarts the period on a new resetAfterMs', () => {
    const { rules, clock } = setup({ total: 10, resetAfterMs: 1000 })
    clock.advance(300)
    rules.setBudget({ total: undefined, remaining: 4, resetAfterMs: undefined })
    expect([rules.total, rules.remaining, rules.resetAfterMs]).toEqual([10, 4, 700])
    rules.setBudget({ resetAfterMs: 2000 })
    expect(rules.resetAfterMs).toBe(2000)
    rules.setBudget({ total: 3 })
    expect(rules.remaining).toBe(3) // capped by the lower total
  })

  it('applies configure() and setBudget() to later identifies', () => {
    const { rules, clock } = setup()
    rules.evaluate(0, 2)
    rules.configure({ maxConcurrency: 2 })
    expect(rules.evaluate(1, 2).outcome).toBe('accepted') // key 1 under the new concurrency
    rules.setBudget({ total: 5 })
    expect(rules.remaining).toBe(5)
    rules.setBudget({ remaining: 0 })
    clock.advance(5000)
    expect(rules.evaluate(0, 2).outcome).toBe('exhausted')
  })

  it('resetStats clears history but keeps the window', () => {
    const { rules, clock } = setup()
    rules.evaluate(0, 1)
    rules.resetStats()
    expect(rules.identifies).toEqual([])
    clock.advance(100)
    expect(rules.evaluate(0, 1).outcome).toBe('violation')
  })
})

import { describe, expect, it } from 'vitest'
import { failoverDue } from '../../src/machines/failover-due.js'

const lost = (downAt: number | null, more: Partial<{ up: boolean; hasSlice: boolean }> = {}) => ({ up: false, hasSlice: true, downAt, ...more })

describe('failoverDue', () => {
  it('moves a machine once its link has been down for the whole delay, not before', () => {
    const a = lost(1000)
    expect(failoverDue([a], 1000 + 3999, 4000)).toEqual({ due: [], recheckIn: 1 })
    expect(failoverDue([a], 1000 + 4000, 4000)).toEqual({ due: [a], recheckIn: null })
  })

  it('a look that comes early by Date.now() (timers tick on another clock) says when to look again', () => {
    // the timer was armed for the full delay but fired when Date.now() said 1 ms was still missing
    const look = failoverDue([lost(50_000)], 50_000 + 3999, 4000)
    expect(look.due).toEqual([])
    expect(look.recheckIn).toBe(1)
  })

  it('ignores machines that are up, run nothing, or were never down; waits for the soonest of the rest', () => {
    const due = lost(0)
    const later = lost(9000)
    const sooner = lost(8000)
    const look = failoverDue([lost(null), lost(0, { up: true }), lost(0, { hasSlice: false }), later, due, sooner], 10_000, 4000)
    expect(look.due).toEqual([due])
    expect(look.recheckIn).toBe(2000)
  })
})

import { afterEach, describe, expect, it, vi } from 'vitest'
import { sentAgo } from '../../src/manager/instance-channel.js'

afterEach(() => {
  vi.useRealTimers()
})

describe('sentAgo (an instance reports when its IDENTIFY left)', () => {
  it('is how long ago by this clock, less a millisecond for the two readings, never negative', () => {
    vi.useFakeTimers()
    vi.setSystemTime(1_000_000)
    expect(sentAgo(1_000_000 - 40)).toBe(39)
    expect(sentAgo(1_000_000 - 1)).toBe(0)
    expect(sentAgo(1_000_000 + 500)).toBe(0) // a report from the future counts as now
  })

  it('counts a missing or odd value as just now', () => {
    for (const v of [undefined, null, '123', Number.NaN, Infinity, -Infinity, {}]) expect(sentAgo(v)).toBe(0)
  })
})

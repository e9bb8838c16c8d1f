import { describe, expect, it } from 'vitest'
import { ReplayWindow } from '../../src/net/udp/index.js'

describe('ReplayWindow', () => {
  it('accepts each pn once', () => {
    const w = new ReplayWindow()
    expect(w.accept(0)).toBe(true)
    expect(w.accept(0)).toBe(false)
    expect(w.accept(1)).toBe(true)
    expect(w.accept(1)).toBe(false)
    expect(w.highest).toBe(1)
  })

  it('accepts reordering inside the window, once', () => {
    const w = new ReplayWindow(1024)
    expect(w.accept(2000)).toBe(true)
    for (const pn of [1999, 1500, 977, 1998]) expect(w.accept(pn)).toBe(true)
    for (const pn of [1999, 1500, 977, 1998, 2000]) expect(w.accept(pn)).toBe(false)
    expect(w.check(1990)).toBe(true)
    expect(w.check(1999)).toBe(false)
  })

  it('rejects packets older than the window', () => {
    const w = new ReplayWindow(1024)
    w.accept(5000)
    expect(w.accept(5000 - 1023)).toBe(true) // oldest slot still inside
    expect(w.accept(5000 - 1024)).toBe(false)
    expect(w.accept(0)).toBe(false)
  })

  it('clears reused slots when sliding, including jumps larger than the window', () => {
    const w = new ReplayWindow(64)
    for (let pn = 0; pn < 64; pn++) expect(w.accept(pn)).toBe(true)
    // Slide by 10: pns 64..73 reuse the slots of 0..9, which must not read as "seen".
    expect(w.accept(73)).toBe(true)
    for (let pn = 64; pn < 73; pn++) expect(w.accept(pn)).toBe(true)
    expect(w.accept(1_000_000)).toBe(true)
    expect(w.accept(1_000_000 - 5)).toBe(true)
    expect(w.accept(1_000_000 - 5)).toBe(false)
    expect(w.accept(73)).toBe(false)
  })

  it('matches a naive set model on a random trace', () => {
    const size = 128
    const w = new ReplayWindow(size)
    const seen = new Set<number>()
    let top = -1
    let seed = 7
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    for (let i = 0; i < 20_000; i++) {
      const pn = Math.max(0, Math.floor(top + 20 - rnd() * 200))
      const expected = pn > top || (top - pn < size && !seen.has(pn))
      expect(w.accept(pn)).toBe(expected)
      if (expected) {
        seen.add(pn)
        top = Math.max(top, pn)
      }
    }
  })

  it('rejects nonsense pns', () => {
    const w = new ReplayWindow()
    expect(w.accept(-1)).toBe(false)
    expect(w.accept(1.5)).toBe(false)
    expect(() => new ReplayWindow(100)).toThrow(RangeError)
  })
})

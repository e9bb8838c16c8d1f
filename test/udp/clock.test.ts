import { describe, expect, it } from 'vitest'
import { Deadline, type UdpTimers } from '../../src/net/udp/index.js'

/** Counts how often a timer is created or cleared; fires due timers only inside run(). */
class CountingTimers implements UdpTimers {
  t = 0
  created = 0
  cleared = 0
  private seq = 0
  private readonly timers = new Map<number, { at: number; fn: () => void }>()
  now = () => this.t
  setTimeout = (fn: () => void, ms: number) => {
    this.created++
    this.timers.set(++this.seq, { at: this.t + Math.max(0, ms), fn })
    return this.seq
  }
  clearTimeout = (h: unknown) => {
    if (this.timers.delete(h as number)) this.cleared++
  }
  /** Advance to `to`, firing timers in order; a timer may fire `early` ms before its time (as Node's can). */
  run(to: number, early = 0): void {
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined
      for (const e of this.timers) if (e[1].at - early <= to && (!next || e[1].at < next[1].at)) next = e
      if (!next) break
      this.timers.delete(next[0])
      this.t = Math.max(this.t, next[1].at - early)
      next[1].fn()
    }
    this.t = to
  }
}

describe('Deadline', () => {
  it('moves later without touching the armed timer, and fires once at the latest deadline', () => {
    const t = new CountingTimers()
    const fired: number[] = []
    const d = new Deadline(t, (due) => fired.push(due))
    d.set(10)
    for (let at = 11; at <= 60; at++) d.set(at) // e.g. a PTO deadline pushed by every packet sent
    expect(t.created).toBe(1)
    expect(t.cleared).toBe(0)
    t.run(59)
    expect(fired).toEqual([]) // the timer armed for 10 re-armed itself for 60
    t.run(60)
    expect(fired).toEqual([60])
    expect(t.created).toBe(2)
    expect(d.deadline).toBeNull()
  })

  it('re-arms at once for an earlier deadline, and does nothing when cleared to null', () => {
    const t = new CountingTimers()
    const fired: number[] = []
    const d = new Deadline(t, (due) => fired.push(due))
    d.set(100)
    d.set(20)
    expect(t.cleared).toBe(1)
    t.run(20)
    expect(fired).toEqual([20])
    d.set(50)
    d.set(null) // nothing due any more: the armed timer stays but finds nothing
    t.run(1000)
    expect(fired).toEqual([20])
    d.set(1500)
    d.clear()
    t.run(5000)
    expect(fired).toEqual([20])
  })

  it('passes the deadline it fires for, even when the timer runs up to a millisecond early', () => {
    const t = new CountingTimers()
    const fired: [number, number][] = []
    const d = new Deadline(t, (due) => fired.push([due, t.now()]))
    d.set(30.4)
    t.run(40, 0.9)
    expect(fired).toEqual([[30.4, 29.5]])
  })
})

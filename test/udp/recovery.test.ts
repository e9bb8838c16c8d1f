import { describe, expect, it } from 'vitest'
import { AckTracker, DEFAULT_RECOVERY, LossRecovery, inRanges, type AckRange, type RecoveryOptions } from '../../src/net/udp/index.js'

describe('AckTracker', () => {
  const mk = (maxRanges = 32) => new AckTracker({ maxAckDelayMs: 25, ackElicitingThreshold: 2, maxRanges })

  it('keeps merged descending ranges for any arrival order', () => {
    const t = mk()
    for (const pn of [0, 1, 2, 5, 6, 9, 4, 3, 12, 8]) t.onPacket(pn, true, 0)
    expect(t.rangeList).toEqual([
      { lo: 12, hi: 12 },
      { lo: 8, hi: 9 },
      { lo: 0, hi: 6 },
    ])
    t.onPacket(7, true, 0)
    t.onPacket(10, true, 0)
    t.onPacket(11, true, 0)
    expect(t.rangeList).toEqual([{ lo: 0, hi: 12 }])
  })

  it('forgets the oldest ranges beyond its cap', () => {
    const t = mk(3)
    for (const pn of [0, 2, 4, 6, 8]) t.onPacket(pn, true, 0)
    expect(t.rangeList.map((r) => r.hi)).toEqual([8, 6, 4])
  })

  it('delays the ACK for one in-order packet, ACKs at once after two or on a gap', () => {
    const t = mk()
    t.onPacket(0, true, 100)
    expect(t.mustAck(100)).toBe(false)
    expect(t.deadline).toBe(125)
    expect(t.mustAck(125)).toBe(true)
    t.onPacket(1, true, 101)
    expect(t.mustAck(101)).toBe(true)
    expect(t.ackDelayUs(103)).toBe(2000)
    t.onAckSent()
    expect(t.mustAck(1000)).toBe(false)
    t.onPacket(3, true, 200) // gap: 2 missing
    expect(t.mustAck(200)).toBe(true)
    t.onAckSent()
    t.onPacket(4, false, 300) // ACK-only packets never force an ACK...
    expect(t.mustAck(10_000)).toBe(false)
    expect(t.hasNews).toBe(true) // ...but are reported on the next one we send anyway
  })

  it('ACKs at once for the few packets above a hole, and delays again after them even if it is never filled', () => {
    const t = mk()
    t.onPacket(0, true, 0)
    t.onAckSent()
    t.onPacket(2, true, 1) // 1 missing (say an ACK-only packet that was lost: it is never resent)
    for (const pn of [2, 3, 4]) {
      if (pn > 2) t.onPacket(pn, true, pn)
      expect(t.mustAck(pn)).toBe(true) // within 3 of the hole: the sender's packet threshold needs these
      t.onAckSent()
    }
    t.onPacket(5, true, 5)
    expect(t.mustAck(5)).toBe(false)
    expect(t.deadline).toBe(30)
  })

  it('keeps ACKing at once while a gap remains, and goes back to delaying once it is filled', () => {
    const t = mk()
    t.onPacket(0, true, 0)
    t.onAckSent()
    t.onPacket(2, true, 1) // 1 missing
    expect(t.mustAck(1)).toBe(true)
    t.onAckSent()
    t.onPacket(3, true, 2) // in order after 2, but the gap at 1 is still open: the sender needs to hear
    expect(t.mustAck(2)).toBe(true)
    t.onAckSent()
    t.onPacket(1, true, 3) // fills the gap (a late fill is news too)
    expect(t.mustAck(3)).toBe(true)
    t.onAckSent()
    t.onPacket(4, true, 4) // no gap any more: delayed again
    expect(t.mustAck(4)).toBe(false)
    expect(t.deadline).toBe(29)
  })
})

describe('LossRecovery (fake clock)', () => {
  const MSS = 1000
  const opts: RecoveryOptions = {
    ...DEFAULT_RECOVERY,
    initialRttMs: 100,
    maxAckDelayMs: 25,
    initialWindowBytes: 16 * MSS,
    minWindowBytes: 2 * MSS,
    maxWindowBytes: 64 * MSS,
    lossReduction: 0.5,
    datagramBytes: MSS,
  }
  const ack = (...ranges: [number, number][]): AckRange[] => ranges.map(([lo, hi]) => ({ lo, hi }))

  it('estimates RTT per RFC 9002 and subtracts the ACK delay', () => {
    const r = new LossRecovery<number>(opts)
    r.onPacketSent(0, true, 0)
    r.onAck(ack([0, 0]), 0, 40)
    expect([r.smoothedRtt, r.rttVar, r.minRtt]).toEqual([40, 20, 40])
    r.onPacketSent(1, true, 100)
    r.onAck(ack([0, 1]), 10, 160) // sample 60, minus 10 ms delay = 50
    expect(r.latestRtt).toBe(60)
    expect(r.smoothedRtt).toBeCloseTo(0.875 * 40 + 0.125 * 50)
    expect(r.rttVar).toBeCloseTo(0.75 * 20 + 0.25 * 10)
  })

  it('declares loss at once below an acknowledged packet while the path has never reordered', () => {
    const r = new LossRecovery<number>(opts)
    r.onPacketSent(0, true, 0)
    r.onPacketSent(1, true, 0) // same flush
    const res = r.onAck(ack([1, 1]), 0, 2)!
    expect(res.lost.map((p) => p.pn)).toEqual([0]) // no 9/8·RTT wait, no 3-packet threshold
    expect(r.reorderingSeen).toBe(false)
    r.onAck(ack([0, 1]), 0, 3) // 0 was only late: the path reorders
    expect(r.reorderingSeen).toBe(true)
    r.onPacketSent(2, true, 10)
    r.onPacketSent(3, true, 10)
    expect(r.onAck(ack([3, 3], [0, 1]), 0, 11)!.lost).toEqual([]) // now the RFC 9002 thresholds apply
  })

  it('declares loss by packet threshold (3) and by time threshold (9/8 RTT) once the path has reordered', () => {
    const r = new LossRecovery<string>(opts)
    r.reorderingSeen = true
    for (let pn = 0; pn < 6; pn++) r.onPacketSent(pn, true, pn, [`f${pn}`])
    // 0 and 1 missing; 4 acked → 0 and 1 are >= 3 behind 4: lost. 3 acked too; 2 missing but only 2 behind.
    let res = r.onAck(ack([3, 4]), 0, 50)!
    expect(res.acked.map((p) => p.pn)).toEqual([3, 4])
    expect(res.lost.map((p) => p.pn)).toEqual([0, 1])
    expect(res.lost[0]!.frames).toEqual(['f0'])
    // 2 is not lost yet; a loss timer runs at time_sent(2) + 9/8 * max(srtt, latest).
    const lossDelay = (9 / 8) * r.latestRtt
    expect(r.deadline()).toBeCloseTo(2 + lossDelay)
    expect(r.onTimeout(2 + lossDelay - 1).lost).toEqual([])
    const t = r.onTimeout(2 + lossDelay)
    expect(t.pto).toBe(false)
    expect(t.lost.map((p) => p.pn)).toEqual([2])
    // 5 is above the largest acked: never lost by threshold, only the PTO applies.
    expect(r.inFlight).toBe(1)
    res = r.onAck(ack([5, 5]), 0, 60)!
    expect(res.acked.map((p) => p.pn)).toEqual([5])
  })

  it("measures the time threshold against the latest RTT, not a smoothed RTT inflated by the peer's busy spells", () => {
    const r = new LossRecovery<number>(opts)
    r.reorderingSeen = true // else 1 would be lost at once (see above)
    r.onPacketSent(0, true, 0)
    r.onAck(ack([0, 0]), 0, 20) // a slow first sample: srtt 20
    r.onPacketSent(1, true, 100)
    r.onPacketSent(2, true, 100)
    const res = r.onAck(ack([2, 2]), 0, 101)! // 2 acknowledged 1 ms after it was sent; 1 missing
    expect(res.lost).toEqual([])
    expect(r.smoothedRtt).toBeGreaterThan(15)
    expect(r.deadline()).toBeCloseTo(100 + (9 / 8) * 1) // RFC 9002's max(srtt, latest) would wait until ≈ 119.8
    expect(r.onTimeout(101.2).lost.map((p) => p.pn)).toEqual([1])
  })

  it('fires PTO = srtt + max(4·rttvar, 1) + max_ack_delay, doubling each time, reset by an ACK', () => {
    const r = new LossRecovery<number>(opts)
    r.onPacketSent(0, true, 0)
    r.onAck(ack([0, 0]), 0, 10) // srtt 10, rttvar 5 → pto = 10 + 20 + 25 = 55
    expect(r.pto()).toBe(55)
    r.onPacketSent(1, true, 100)
    expect(r.deadline()).toBe(155)
    expect(r.onTimeout(154).pto).toBe(false)
    expect(r.onTimeout(155)).toEqual({ lost: [], pto: true })
    expect(r.ptoCount).toBe(1)
    expect(r.deadline()).toBe(100 + 110)
    r.onPacketSent(2, true, 210) // probe
    expect(r.deadline()).toBe(210 + 110)
    r.onTimeout(320)
    expect(r.ptoCount).toBe(2)
    expect(r.deadline()).toBe(210 + 220)
    r.onAck(ack([2, 2]), 0, 330)
    expect(r.ptoCount).toBe(0)
  })

  it('has no timer with nothing ack-eliciting in flight', () => {
    const r = new LossRecovery<number>(opts)
    r.onPacketSent(0, false, 0) // ACK-only
    expect(r.deadline()).toBeNull()
    expect(r.inFlight).toBe(0)
    expect(r.onAck(ack([0, 0]), 0, 5)).toEqual({ acked: [], lost: [] })
  })

  it('grows the byte window to its cap while it is used, and reduces it once per loss event', () => {
    const r = new LossRecovery<number>(opts)
    let pn = 0
    let now = 0
    expect(r.cwnd).toBe(16 * MSS)
    // Slow start: + the acknowledged bytes, capped.
    while (r.cwnd < 64 * MSS) {
      while (r.canSend()) r.onPacketSent(pn++, true, now, [], MSS)
      now += 10
      r.onAck(ack([0, pn - 1]), 0, now)
    }
    expect(r.cwnd).toBe(64 * MSS)
    expect(r.bytesInFlight).toBe(0)
    for (let i = 0; i < 64; i++) r.onPacketSent(pn + i, true, now, [], MSS)
    expect(r.canSend()).toBe(false)
    expect(r.bytesInFlight).toBe(64 * MSS)
    now += 10
    // Several losses from the same flight: one reduction only.
    const res = r.onAck(ack([pn + 10, pn + 63], [pn + 5, pn + 6]), 0, now)!
    expect(res.lost.length).toBe(8) // pn+0..4 and pn+7..9
    expect(r.cwnd).toBe(32 * MSS)
    expect(r.bytesInFlight).toBe(0)
    pn += 64
    for (let i = 0; i < 4; i++) r.onPacketSent(pn + i, true, now + 1, [], MSS)
    r.onAck(ack([pn + 3, pn + 3]), 0, now + 20) // a new loss event after recovery started
    expect(r.cwnd).toBe(16 * MSS)
    // Never below the minimum.
    for (let k = 0; k < 10; k++) {
      const t = now + 100 * (k + 1)
      const base = pn + 10 + k * 10
      for (let i = 0; i < 4; i++) r.onPacketSent(base + i, true, t, [], MSS)
      r.onAck(ack([base + 3, base + 3]), 0, t + 5)
    }
    expect(r.cwnd).toBe(2 * MSS)
  })

  it('does not grow the window while the sender leaves most of it unused', () => {
    const r = new LossRecovery<number>(opts)
    for (let pn = 0; pn < 100; pn++) {
      r.onPacketSent(pn, true, pn, [], 200) // one small packet at a time: far below the window
      r.onAck(ack([0, pn]), 0, pn + 0.5)
    }
    expect(r.cwnd).toBe(16 * MSS)
  })

  it('counts a loss that an ACK later contradicts as spurious and undoes the reduction it caused', () => {
    const r = new LossRecovery<number>(opts)
    for (let pn = 0; pn < 8; pn++) r.onPacketSent(pn, true, 0, [], MSS)
    r.onAck(ack([0, 0]), 0, 10)
    const res = r.onAck(ack([4, 7], [0, 0]), 0, 11)! // 1..3 are 3 or more behind 7: lost by packet threshold
    expect(res.lost.map((p) => p.pn)).toEqual([1, 2, 3])
    expect(r.cwnd).toBe(8.5 * MSS) // 17 (slow start: 8 of 16 in flight when 0 was acknowledged) halved
    r.onAck(ack([0, 7]), 0, 12) // they arrived after all (late, not lost)
    expect(r.spuriousLosses).toBe(3)
    expect(r.cwnd).toBe(17 * MSS)
  })

  it('caps one backed-off PTO interval at maxPtoMs', () => {
    const r = new LossRecovery<number>({ ...opts, maxPtoMs: 500 })
    r.onPacketSent(0, true, 0)
    // No RTT sample: PTO 100 + 200 + 25 = 325, then 650 → capped to 500.
    expect(r.deadline()).toBe(325)
    expect(r.onTimeout(325).pto).toBe(true)
    expect(r.deadline()).toBe(500)
    expect(r.onTimeout(500).pto).toBe(true)
    expect(r.deadline()).toBe(500)
    expect(r.lastProgressAt).toBe(0)
  })

  it('rejects an ACK for a packet never sent', () => {
    const r = new LossRecovery<number>(opts)
    r.onPacketSent(0, true, 0)
    expect(r.onAck(ack([0, 5]), 0, 1)).toBeNull()
  })

  it('inRanges', () => {
    const rs = ack([10, 12], [3, 5])
    expect([2, 3, 5, 6, 9, 10, 12, 13].map((p) => inRanges(rs, p))).toEqual([false, true, true, false, false, true, true, false])
  })
})

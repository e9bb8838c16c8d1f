import { describe, expect, it } from 'vitest'
import { KeyRing, SendQueue, normalizeAddress } from '../../src/net/udp/index.js'
import { randomKeys } from './udp-helper.js'

describe('SendQueue', () => {
  it('sends retransmissions first and never resends an acknowledged fragment', () => {
    const q = new SendQueue(100)
    q.push(Buffer.alloc(250, 1)) // 3 fragments
    q.push(Buffer.alloc(10, 2))
    expect(q.queuedBytes).toBe(260)
    const f = [q.take(), q.take(), q.take()]
    expect(f.map((x) => [x.msg.id, x.index])).toEqual([[0, 0], [0, 1], [0, 2]])
    q.requeue(f[1]!)
    q.requeue(f[1]!) // second loss report of the same fragment: queued once
    q.requeue(f[2]!)
    q.acked(f[2]!) // acknowledged via another copy before being resent
    expect(q.peekFrameSize()).toBe(12 + 100)
    expect(q.take()).toBe(f[1])
    expect(q.peekFrameSize()).toBe(12 + 10) // f[2] skipped, new data next
    const g = q.take()
    expect([g.msg.id, g.index]).toEqual([1, 0])
    expect(q.peekFrameSize()).toBe(-1)
    for (const x of [f[0]!, f[1]!, g]) q.acked(x)
    expect(q.queuedBytes).toBe(0)
    expect(q.queuedMessages).toBe(0)
  })

  it('drain() hands back unacknowledged payloads in send order', () => {
    const q = new SendQueue(100)
    for (const s of ['a', 'b', 'c']) q.push(Buffer.from(s))
    q.acked(q.take())
    expect(q.drain().map(String)).toEqual(['b', 'c'])
    expect(q.queuedBytes).toBe(0)
  })
})

describe('KeyRing', () => {
  it('selects keys by epoch byte and only moves forward by one', () => {
    const k = randomKeys().client
    const ring = new KeyRing(k, 0)
    expect(ring.select(0)).toBe(ring.current)
    expect(ring.select(1)).toBeNull()
    ring.rotate({ ...k, epoch: 1 }, 10)
    expect(ring.select(1)!.keys.epoch).toBe(1)
    expect(ring.select(0)!.keys.epoch).toBe(0)
    ring.dropPrevious()
    expect(ring.select(0)).toBeNull()
    expect(() => ring.rotate({ ...k, epoch: 3 }, 20)).toThrow(/epoch 2/)
    expect(ring.shouldAskRekey(20, 100, 1000)).toBe(false)
    ring.current.sent = 100
    expect(ring.shouldAskRekey(20, 100, 1000)).toBe(true)
    expect(ring.shouldAskRekey(20, 100, 1000)).toBe(false) // once per epoch
  })
})

describe('normalizeAddress', () => {
  it('treats IPv4-mapped IPv6 as the IPv4 address', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(normalizeAddress('::FFFF:10.1.2.3')).toBe('10.1.2.3')
    expect(normalizeAddress('FE80::1')).toBe('fe80::1')
    expect(normalizeAddress('::1')).toBe('::1')
  })
})

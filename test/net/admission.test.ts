import { describe, expect, it } from 'vitest'
import { Admission, Progress, addressKey } from '../../src/net/admission.js'

interface C {
  id: string
  progress: number
}
const conn = (id: string, progress: number = Progress.SILENT): C => ({ id, progress })
const limits = { maxUnauthenticated: 6, maxUnauthenticatedPerAddress: 3, maxPendingHandshakes: 2 }
const ids = (e: { conn: C }[]) => e.map((x) => x.conn.id)

describe('Admission', () => {
  it('never refuses a newcomer: trim() closes the oldest of a full address pool', () => {
    const a = new Admission<C>(limits, (c) => c.progress)
    for (const id of ['a1', 'a2', 'a3']) a.admit(conn(id), '10.0.0.1')
    expect(a.overCap).toBe(false)
    a.admit(conn('a4'), '10.0.0.1') // closes nothing: progress is unknown until the burst was read
    expect(a.overCap).toBe(true)
    const e = a.trim()
    expect(ids(e)).toEqual(['a1'])
    expect(e[0]!.pool).toBe('address')
    expect(a.counts.unauthenticated).toBe(3)
    expect(a.overCap).toBe(false)
    expect(a.trim()).toEqual([])
  })

  it('evicts the least advanced first: refused, then silent, then mid-handshake', () => {
    const a = new Admission<C>(limits, (c) => c.progress)
    const started = conn('started', Progress.STARTED)
    const silent = conn('silent', Progress.SILENT)
    const refused = conn('refused', Progress.REFUSED)
    a.admit(started, 'h')
    a.admit(silent, 'h')
    a.admit(refused, 'h')
    a.admit(conn('n1'), 'h')
    expect(ids(a.trim())).toEqual(['refused'])
    a.admit(conn('n2'), 'h')
    expect(ids(a.trim())).toEqual(['silent'])
    a.admit(conn('n3'), 'h')
    expect(ids(a.trim())).toEqual(['n1'])
    expect(a.has(started)).toBe(true)
  })

  it('caps all addresses together, evicting the globally oldest', () => {
    const a = new Admission<C>(limits, (c) => c.progress)
    for (const h of ['h1', 'h2']) for (let i = 0; i < 3; i++) a.admit(conn(`${h}-${i}`), h)
    a.admit(conn('h3-0'), 'h3')
    const e = a.trim()
    expect(ids(e)).toEqual(['h1-0'])
    expect(e[0]!.pool).toBe('global')
    expect(a.counts).toEqual({ unauthenticated: 6, pendingHello: 0, addresses: 3 })
  })

  it('a proven connection leaves the address pools for its certificate pool, capped per certificate', () => {
    const a = new Admission<C>(limits, (c) => c.progress)
    const parent = conn('parent', Progress.STARTED)
    a.admit(parent, 'h')
    expect(ids(a.prove(parent, 'fp-parent'))).toEqual([])
    // a flood from the same address no longer touches it
    for (let i = 0; i < 10; i++) {
      a.admit(conn(`flood-${i}`), 'h')
      a.trim()
    }
    expect(a.has(parent)).toBe(true)
    expect(a.counts.unauthenticated).toBe(3)
    // another trusted certificate fills only its own slots
    const others = Array.from({ length: 4 }, (_, i) => conn(`other-${i}`, Progress.STARTED))
    const evicted: string[] = []
    for (const o of others) {
      a.admit(o, 'h2')
      a.trim()
      evicted.push(...ids(a.prove(o, 'fp-other')))
    }
    expect(evicted).toEqual(['other-0', 'other-1'])
    expect(a.has(parent)).toBe(true)
    expect(a.counts.pendingHello).toBe(3)
    a.release(parent)
    expect(a.counts.pendingHello).toBe(2)
    a.release(parent) // idempotent
    expect(a.counts.pendingHello).toBe(2)
  })

  it('groups IPv6 addresses by /64 and leaves IPv4 alone', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:0db8:0001:0002::')).toBe('2001:db8:1:2::/64')
    expect(addressKey('::1')).toBe('0:0:0:0::/64')
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1')
  })
})

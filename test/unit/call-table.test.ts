import { describe, expect, it } from 'vitest'
import { CallTable } from '../../src/rpc/call-table.js'

describe('CallTable', () => {
  it('shows only the calls: size, entries and ids leave out the entry that keeps the table', () => {
    const t = new CallTable<string>()
    expect(t.size).toBe(0)
    expect([...t.entries()]).toEqual([])
    t.set(7, 'a')
    t.set(3, 'b')
    expect(t.size).toBe(2)
    expect([...t.entries()]).toEqual([
      [7, 'a'],
      [3, 'b'],
    ])
    expect(t.ids()).toEqual([7, 3])
    expect(t.get(7)).toBe('a')
    expect(t.has(3)).toBe(true)
    expect(t.delete(7)).toBe(true)
    expect(t.delete(7)).toBe(false)
    expect(t.delete(3)).toBe(true)
    expect(t.size).toBe(0)
    expect(t.ids()).toEqual([])
  })

  it('id 0 is never a call: it cannot be set, and is not found or deleted', () => {
    const t = new CallTable<string>()
    expect(() => t.set(0, 'x')).toThrow(/reserved/)
    expect(t.get(0)).toBeUndefined()
    expect(t.has(0)).toBe(false)
    expect(t.delete(0)).toBe(false)
    t.set(1, 'y')
    expect(t.size).toBe(1)
  })
})

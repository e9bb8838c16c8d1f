import { describe, expect, it } from 'vitest'
import { allUnlessOneFails } from '../../src/ipc/targets.js'

/** A promise settled from outside. */
function later<T>() {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

describe('allUnlessOneFails', () => {
  it('gives every part in order when none fails', async () => {
    const a = later<number>()
    const b = later<number>()
    const all = allUnlessOneFails([a.promise, b.promise], (n) => n < 0)
    b.resolve(2)
    a.resolve(1)
    expect(await all).toEqual([1, 2])
  })

  it('settles with the failed part alone as soon as it fails, while the others still run', async () => {
    const slow = later<number>()
    const all = allUnlessOneFails([slow.promise, Promise.resolve(-1), Promise.resolve(3)], (n) => n < 0)
    expect(await all).toEqual([-1])
    slow.resolve(5) // answers after the call settled: dropped, nothing thrown
  })

  it('takes the first failure in time, not in order', async () => {
    const first = later<number>()
    const second = later<number>()
    const all = allUnlessOneFails([first.promise, second.promise], (n) => n < 0)
    second.resolve(-2)
    first.resolve(-1)
    expect(await all).toEqual([-2])
  })

  it('handles no parts and passes a rejection through', async () => {
    expect(await allUnlessOneFails([], () => true)).toEqual([])
    await expect(allUnlessOneFails([Promise.reject(new Error('x'))], () => false)).rejects.toThrow('x')
  })
})

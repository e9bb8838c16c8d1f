import { describe, expect, it } from 'vitest'
import { deserializeValue, serializeValue } from '../../src/ipc/values.js'
import { PRIMING_FUNCTIONS, PRIMING_ROUNDS, primeEvalPath, type PrimingCall } from '../../src/runtime/eval-priming.js'
import { runFunction } from '../../src/runtime/evaluate.js'

describe('primeEvalPath (type feedback for the eval path before the first request)', () => {
  it('runs every function and value through the real eval path, and each comes back as it went', () => {
    const calls: PrimingCall[] = []
    const results: unknown[] = []
    const made = primeEvalPath((call) => {
      calls.push(call)
      // what the instance runtime's eval does, then what the manager does with the answer
      const value = serializeValue(runFunction(call.fn, { client: true }, deserializeValue(call.context)))
      results.push(value)
      return value
    })
    expect(made).toBe(calls.length)
    expect(made % PRIMING_ROUNDS).toBe(0)
    const perRound = made / PRIMING_ROUNDS
    expect(perRound).toBeGreaterThanOrEqual(10)
    // each eval returns its context: the answer is the serialized context, for every kind of value
    for (let i = 0; i < calls.length; i++) expect(deserializeValue(results[i])).toEqual(deserializeValue(calls[i]!.context))
    const kinds = new Set(calls.slice(0, perRound).map((c) => { const v = deserializeValue(c.context); return v === null ? 'null' : Array.isArray(v) ? 'array' : v instanceof Map ? 'map' : typeof v }))
    expect([...kinds].sort()).toEqual(['array', 'boolean', 'map', 'null', 'number', 'object', 'string', 'undefined'])
    // more distinct functions than V8 keeps apart at one call site, all of them used
    expect(new Set(PRIMING_FUNCTIONS).size).toBeGreaterThan(4)
    expect(new Set(calls.map((c) => c.fn))).toEqual(new Set(PRIMING_FUNCTIONS))
  })

  it('a call that throws ends the priming quietly: an instance must start without it', () => {
    let n = 0
    const made = primeEvalPath(() => {
      if (++n === 7) throw new Error('broken')
      return null
    })
    expect(made).toBe(6)
  })
})

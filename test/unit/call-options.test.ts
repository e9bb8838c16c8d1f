import { describe, expect, it } from 'vitest'
import { optionsArg, targetArg } from '../../src/ipc/call-options.js'

const what = 'broadcastEval(fn, options)'
const refused = (arg: unknown) => {
  try {
    optionsArg(arg as object, what)
  } catch (err) {
    expect(err).toBeInstanceOf(TypeError)
    return (err as Error).message
  }
  throw new Error(`accepted ${JSON.stringify(arg)}`)
}

describe('call options (broadcastEval / fetchClientValues / send / request)', () => {
  it('accepts every documented option and nothing at all', () => {
    const signal = new AbortController().signal
    const all = { shard: [0, 2], instance: 1, machine: ['a', 'b'], guildId: '81384788765712384', all: true, context: { x: 1 }, timeout: 50, signal, allowPartial: true }
    expect(optionsArg(all, what)).toBe(all)
    expect(optionsArg(undefined, what)).toEqual({})
    expect(optionsArg(null, what)).toEqual({})
    expect(optionsArg({ shard: undefined }, what)).toEqual({ shard: undefined })
  })

  it('refuses a misspelt or foreign key instead of reaching every instance, and names the fix', () => {
    expect(refused({ shards: [0, 3] })).toBe(`${what}: unknown option 'shards'; use 'shard' (one id or an array of ids)`)
    expect(refused({ cluster: 1 })).toBe(`${what}: unknown option 'cluster'; use 'instance' (a discord-hybrid-sharding cluster is an instance here)`)
    expect(refused({ shrd: 1 })).toBe(`${what}: unknown option 'shrd'; did you mean 'shard'?`)
    expect(refused({ colour: 'red' })).toBe(`${what}: unknown option 'colour'; the options are shard, instance, machine, guildId, all, context, timeout, signal, allowPartial`)
  })

  it('refuses selectors that would match nothing or everything by mistake', () => {
    expect(refused({ shard: '1' })).toBe(`${what}: options.shard is an id (an integer ≥ 0) or an array of ids, got "1"`)
    expect(refused({ shard: -1 })).toContain('got -1')
    expect(refused({ instance: 1.5 })).toBe(`${what}: options.instance is an id (an integer ≥ 0) or an array of ids, got 1.5`)
    expect(refused({ shard: [0, 'x'] })).toBe(`${what}: options.shard is an id (an integer ≥ 0) or an array of ids; the list holds "x"`)
    expect(refused({ instance: [] })).toBe(`${what}: options.instance is an empty list, which selects no instance; leave it out to reach every instance`)
    expect(refused({ machine: [] })).toContain('options.machine is an empty list')
    expect(refused({ machine: 3 })).toBe(`${what}: options.machine is a machine id (a non-empty string, as status() shows it) or an array of them, got 3`)
    expect(refused({ all: 1 })).toBe(`${what}: options.all is true or false, got 1`)
  })

  it('refuses a signal that is not an AbortSignal (the controller itself, a common slip)', () => {
    expect(refused({ signal: new AbortController() })).toBe(`${what}: options.signal must be an AbortSignal (controller.signal), got an AbortController`)
    expect(refused({ signal: true })).toBe(`${what}: options.signal must be an AbortSignal (controller.signal), got boolean`)
  })

  it('fetchClientValues takes a shard id as discord.js does, or the same options', () => {
    expect(targetArg(3, 'fetchClientValues(prop, target)')).toEqual({ shard: 3 })
    expect(() => targetArg(-2, 'fetchClientValues(prop, target)')).toThrow('fetchClientValues(prop, target): a shard id is an integer ≥ 0, got -2')
    expect(() => targetArg({ shards: 1 } as object, 'fetchClientValues(prop, target)')).toThrow("unknown option 'shards'")
  })
})

import { describe, expect, it } from 'vitest'
import { OptionsError } from '../../src/errors.js'
import { cliToSimulatorOptions } from '../../src/simulator/cli.js'
import { GatewaySimulator, resolveOptions } from '../../src/simulator/index.js'
import { mergeOptions } from '../../src/simulator/options.js'

function fieldOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(OptionsError)
    return (err as OptionsError).field
  }
  throw new Error('did not throw')
}

describe('simulator options', () => {
  it('fills documented defaults', () => {
    const o = resolveOptions()
    expect(o).toMatchObject({
      tokens: ['sim-token'],
      guilds: 100,
      maxConcurrency: 1,
      windowMs: 5000,
      toleranceMs: 100,
      recommendedShards: null,
      maxGuildsPerShard: 2500,
      heartbeatIntervalMs: 41_250,
      heartbeatTimeoutMs: 61_875,
      sessionStartLimit: { total: 1000, remaining: 1000, resetAfterMs: 86_400_000 },
      budgetExhaustedMode: 'terminate',
      resumeWindowMs: 60_000,
      rateLimit: { events: 120, windowMs: 60_000, countHeartbeats: false, sliding: false },
      intents: { knownMask: 0x331ffff, approvedPrivileged: 33026 },
      adminHttp: 'loopback',
    })
    expect(o.user.id).toBe(o.applicationId)
  })

  it('merges token and tokens', () => {
    expect(resolveOptions({ token: 'a', tokens: ['b', 'a'] }).tokens).toEqual(['a', 'b'])
    expect(resolveOptions({ tokens: ['x'] }).tokens).toEqual(['x'])
  })

  it('names the bad field', () => {
    expect(fieldOf(() => resolveOptions({ maxConcurrency: 0 }))).toBe('maxConcurrency')
    expect(fieldOf(() => resolveOptions({ guilds: -1 }))).toBe('guilds')
    expect(fieldOf(() => resolveOptions({ guilds: ['1', 'nope'] }))).toBe('guilds[1]')
    expect(fieldOf(() => resolveOptions({ token: '' }))).toBe('token')
    expect(fieldOf(() => resolveOptions({ tokens: ['ok', 3 as unknown as string] }))).toBe('tokens[1]')
    expect(fieldOf(() => resolveOptions({ sessionStartLimit: { total: 5, remaining: 6 } }))).toBe('sessionStartLimit.remaining')
    expect(fieldOf(() => resolveOptions({ rateLimit: { events: 1.5 } }))).toBe('rateLimit.events')
    expect(fieldOf(() => resolveOptions({ rateLimit: { sliding: 'yes' as unknown as boolean } }))).toBe('rateLimit.sliding')
    expect(fieldOf(() => resolveOptions({ budgetExhaustedMode: 'explode' as 'terminate' }))).toBe('budgetExhaustedMode')
    expect(fieldOf(() => resolveOptions({ publicUrl: 'ftp://x' }))).toBe('publicUrl')
    expect(fieldOf(() => resolveOptions({ publicUrl: 'http://x/?a=1' }))).toBe('publicUrl')
    expect(fieldOf(() => resolveOptions({ intents: { nope: 1 } as never }))).toBe('intents.nope')
    expect(fieldOf(() => resolveOptions({ maxConcurency: 2 } as never))).toBe('maxConcurency')
    expect(fieldOf(() => resolveOptions({ applicationId: 'abc' }))).toBe('applicationId')
    expect(fieldOf(() => new GatewaySimulator({ heartbeatIntervalMs: 0 }))).toBe('heartbeatIntervalMs')
  })

  it('merges patches key by key and validates the result', () => {
    const merged = mergeOptions({ token: 'a', rateLimit: { events: 5 } }, { tokens: ['b'], rateLimit: { windowMs: 10 } })
    expect(merged).toEqual({ tokens: ['b'], rateLimit: { events: 5, windowMs: 10 } })
    const sim = new GatewaySimulator({ guilds: 2 })
    expect(fieldOf(() => sim.configure({ windowMs: -1 }))).toBe('windowMs')
    expect(sim.config().windowMs).toBe(5000) // unchanged after a rejected patch
    expect(sim.configure({ guilds: 5, maxConcurrency: 3 })).toMatchObject({ guilds: 5, maxConcurrency: 3 })
    expect(sim.guildIds()).toHaveLength(5)
    expect(sim.configure({ guilds: 1 }).guilds).toBe(1)
  })

  it('maps CLI flags, including string numbers', () => {
    expect(cliToSimulatorOptions({ guilds: '500', maxConcurrency: '4', token: 'x,y', shards: '3', sessionLimit: '10' })).toEqual({
      guilds: 500,
      maxConcurrency: 4,
      tokens: ['x', 'y'],
      recommendedShards: 3,
      sessionStartLimit: { total: 10 },
    })
    expect(fieldOf(() => cliToSimulatorOptions({ guilds: 'many' }))).toBe('guilds')
  })
})

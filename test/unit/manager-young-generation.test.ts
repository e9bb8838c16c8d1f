import { describe, expect, it } from 'vitest'
import { GROWTH_FLAG, managerGrowthBlocker, takeGrowthShare, V8_GROWTH_DEFAULT } from '../../src/modes/manager-young-generation.js'
import { resolveOptions } from '../../src/manager/options.js'
import { settingsFor } from '../helpers/instance-settings.js'

describe("the manager's young-generation growth while instance processes run", () => {
  it('is set while a pool holds a share, the largest factor held wins, and the last release restores V8\'s default; each release acts once', () => {
    const set: string[] = []
    const shares = { held: [] as number[], applied: null as number | null }
    const a = takeGrowthShare(4, (f) => set.push(f), shares)
    expect(set).toEqual([`${GROWTH_FLAG}=4`])
    const b = takeGrowthShare(8, (f) => set.push(f), shares)
    const c = takeGrowthShare(4, (f) => set.push(f), shares)
    expect(set).toEqual([`${GROWTH_FLAG}=4`, `${GROWTH_FLAG}=8`])
    b.release()
    b.release()
    expect(set.at(-1)).toBe(`${GROWTH_FLAG}=4`)
    a.release()
    expect(set).toHaveLength(3) // c still holds 4
    c.release()
    expect(set).toEqual([`${GROWTH_FLAG}=4`, `${GROWTH_FLAG}=8`, `${GROWTH_FLAG}=4`, `${GROWTH_FLAG}=${V8_GROWTH_DEFAULT}`])
    expect(shares).toEqual({ held: [], applied: null })
  })

  it("leaves the process alone when the manager's own flags size its young generation", () => {
    expect(managerGrowthBlocker([], '')).toBeNull()
    expect(managerGrowthBlocker(['--max-old-space-size=512'], '--no-warnings')).toBeNull()
    expect(managerGrowthBlocker(['--semi-space-growth-factor=2'])).toMatch(/already sizes its young generation \(--semi-space-growth-factor=2\)/)
    expect(managerGrowthBlocker([], '--inspect --min_semi_space_size=16')).toMatch(/--min_semi_space_size=16/)
    expect(managerGrowthBlocker(['--max-semi-space-size=32'])).not.toBeNull()
  })

  it('is the PROCESSES pool\'s setting unless the option is null; never for WORKERS; the option is validated', () => {
    expect(settingsFor('processes').managerGrowthFactor).toBe(4)
    expect(settingsFor('processes', { managerSemiSpaceGrowthFactor: 8 }).managerGrowthFactor).toBe(8)
    expect(settingsFor('processes', { managerSemiSpaceGrowthFactor: null }).managerGrowthFactor).toBeNull()
    // the instances' execArgv is not the manager's
    expect(settingsFor('processes', { execArgv: ['--semi-space-growth-factor=2'] }).managerGrowthFactor).toBe(4)
    expect(settingsFor('workers').managerGrowthFactor).toBeNull()
    const file = new URL(import.meta.url).pathname
    expect(() => resolveOptions({ file, mode: 'processes', shards: 1, managerSemiSpaceGrowthFactor: 1 } as never)).toThrow(/managerSemiSpaceGrowthFactor/)
    expect(() => resolveOptions({ file, mode: 'processes', shards: 1, managerSemiSpaceGrowthFactor: '4' } as never)).toThrow(/managerSemiSpaceGrowthFactor/)
  })
})

import { describe, expect, it } from 'vitest'
import { EARLY_OPT_FLAG, earlyOptBlocker, earlyOptFlagGiven, takeEarlyOptShare, V8_EARLY_OPT_DEFAULT } from '../../src/modes/early-optimization.js'

describe('early optimization of small functions, switched off while workers run', () => {
  it('is set while workers run and none is booting; the last one to exit restores V8\'s default; each call acts once', () => {
    const set: string[] = []
    const shares = { running: 0, booting: 0, set: false }
    const take = () => takeEarlyOptShare((f) => set.push(f), shares)
    const a = take()
    const b = take()
    expect(set).toEqual([]) // both booting: Node's code cache for built-in modules needs V8's default flags
    a.booted()
    a.booted()
    expect(set).toEqual([])
    b.booted()
    expect(set).toEqual([`${EARLY_OPT_FLAG}=0`])
    // a respawned worker boots with V8's default, then the flag comes back
    const c = take()
    expect(set).toEqual([`${EARLY_OPT_FLAG}=0`, `${EARLY_OPT_FLAG}=${V8_EARLY_OPT_DEFAULT}`])
    c.booted()
    expect(set).toHaveLength(3)
    expect(set[2]).toBe(`${EARLY_OPT_FLAG}=0`)
    a.release()
    a.release()
    b.release()
    expect(shares).toEqual({ running: 1, booting: 0, set: true })
    c.release()
    expect(shares).toEqual({ running: 0, booting: 0, set: false })
    expect(set).toEqual([`${EARLY_OPT_FLAG}=0`, `${EARLY_OPT_FLAG}=${V8_EARLY_OPT_DEFAULT}`, `${EARLY_OPT_FLAG}=0`, `${EARLY_OPT_FLAG}=${V8_EARLY_OPT_DEFAULT}`])
  })

  it('a worker that exits while booting gives back both its shares', () => {
    const set: string[] = []
    const shares = { running: 0, booting: 0, set: false }
    const ready = takeEarlyOptShare((f) => set.push(f), shares)
    const dies = takeEarlyOptShare((f) => set.push(f), shares)
    ready.booted()
    expect(set).toEqual([])
    dies.release()
    expect(set).toEqual([`${EARLY_OPT_FLAG}=0`])
    dies.booted() // too late: changes nothing
    expect(shares).toEqual({ running: 1, booting: 0, set: true })
  })

  it('leaves it alone when the process\'s flags set it, or on a V8 it was not measured on', () => {
    expect(earlyOptFlagGiven(['--max-bytecode-size-for-early-opt=40'])).toBe(true)
    expect(earlyOptFlagGiven([], '--inspect --max_bytecode_size_for_early_opt=0')).toBe(true)
    expect(earlyOptFlagGiven(['--max-old-space-size=512'], '--no-warnings')).toBe(false)
    expect(earlyOptBlocker([], '', '11.3.244.8-node.38')).toBeNull()
    expect(earlyOptBlocker([EARLY_OPT_FLAG + '=10'], '', '11.3.244.8-node.38')).toMatch(/already set by the process's flags/)
    expect(earlyOptBlocker([], '', '12.4.254.21-node.33')).toMatch(/V8 12\.4\.254\.21-node\.33 is not a version it was measured on/)
  })

  it('is taken by WORKERS-mode instances unless the option is off or the manager\'s flags set it; never in PROCESSES mode', async () => {
    const { settingsFor } = await import('../helpers/instance-settings.js')
    const { resolveOptions } = await import('../../src/manager/options.js')
    const file = new URL(import.meta.url).pathname
    const defer = (mode: 'processes' | 'workers', extra: Record<string, unknown> = {}) => settingsFor(mode, extra).deferSmallFunctionOptimization
    // this machine's Node is the one it was measured on (test/integration/early-optimization.test.ts checks V8 knows the flag)
    expect(defer('workers')).toBe(true)
    expect(defer('workers', { deferSmallFunctionOptimization: false })).toBe(false)
    expect(defer('workers', { execArgv: ['--max-bytecode-size-for-early-opt=20'] })).toBe(false)
    expect(defer('processes')).toBe(false)
    expect(() => resolveOptions({ file, mode: 'workers', shards: 1, deferSmallFunctionOptimization: 'yes' } as never)).toThrow(/deferSmallFunctionOptimization/)
  })
})

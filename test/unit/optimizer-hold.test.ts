import { describe, expect, it } from 'vitest'
import { holdOptimizerDuringImports, optimizerFlagsGiven } from '../../src/runtime/optimizer-hold.js'

describe('optimizerFlagsGiven', () => {
  it('sees flags that decide how V8 optimizes, in execArgv or NODE_OPTIONS', () => {
    for (const flag of ['--no-turbofan', '--turbofan', '--jitless', '--no-opt', '--max-optimized-bytecode-size=100', '--turbo-filter=foo', '--always_turbofan', '--max_optimized_bytecode_size=1']) {
      expect(optimizerFlagsGiven([flag]), flag).toBe(true)
      expect(optimizerFlagsGiven([], `--inspect ${flag}`), flag).toBe(true)
    }
  })

  it('ignores every other flag', () => {
    expect(optimizerFlagsGiven(['--allow-natives-syntax', '--trace-opt', '--semi-space-growth-factor=4', '--optimize-for-size', '--turbofan-stats-x'], '--max-old-space-size=512')).toBe(false)
    expect(optimizerFlagsGiven([])).toBe(false)
  })
})

function fakeDeps(maxMs = 3000) {
  const flags: string[] = []
  const released: string[] = []
  const timers: { fn: () => void; ms: number }[] = []
  const loads: unknown[][] = []
  const loader = {
    _load(this: unknown, ...args: unknown[]) {
      loads.push([this, ...args])
      return `exports of ${String(args[0])}`
    },
  }
  let t = 0
  const deps = {
    setFlags: (f: string) => void flags.push(f),
    loader,
    maxMs,
    onRelease: (why: string, heldMs: number) => void released.push(`${why} after ${heldMs} ms`),
    setTimeout: (fn: () => void, ms: number) => {
      timers.push({ fn, ms })
      return {}
    },
    now: () => t,
    advance: (ms: number) => void (t += ms),
  }
  return { deps, flags, released, timers, loads, loader }
}

describe('holdOptimizerDuringImports', () => {
  it('holds until the first CommonJS load that is not built in, and releases once', () => {
    const { deps, flags, released, loads, loader } = fakeDeps()
    holdOptimizerDuringImports(deps)
    expect(flags).toEqual(['--no-turbofan'])
    const self = { caller: 1 }
    expect(loader._load.call(self, 'node:fs', null, false)).toBe('exports of node:fs')
    expect(loader._load('events', null, false)).toBe('exports of events')
    expect(flags).toEqual(['--no-turbofan'])
    deps.advance(120)
    expect(loader._load('/bot/node_modules/discord.js/src/index.js', null, false)).toBe('exports of /bot/node_modules/discord.js/src/index.js')
    expect(flags).toEqual(['--no-turbofan', '--turbofan'])
    expect(released).toEqual(['the first CommonJS load (/bot/node_modules/discord.js/src/index.js) after 120 ms'])
    loader._load('./other.js', null, false)
    expect(flags).toHaveLength(2)
    expect(released).toHaveLength(1)
    // every call reached the original loader with its receiver and arguments
    expect(loads.map((l) => l[1])).toEqual(['node:fs', 'events', '/bot/node_modules/discord.js/src/index.js', './other.js'])
    expect(loads[0][0]).toBe(self)
  })

  it('releases after maxMs when nothing CommonJS loads, and the returned function releases at once', () => {
    const a = fakeDeps(3000)
    holdOptimizerDuringImports(a.deps)
    expect(a.timers.map((t) => t.ms)).toEqual([3000])
    a.deps.advance(3000)
    a.timers[0].fn()
    expect(a.flags).toEqual(['--no-turbofan', '--turbofan'])
    expect(a.released).toEqual(['no CommonJS load within 3000 ms after 3000 ms'])
    a.loader._load('./late.js')
    expect(a.flags).toHaveLength(2)

    const b = fakeDeps()
    const release = holdOptimizerDuringImports(b.deps)
    release()
    release()
    b.timers[0].fn()
    expect(b.flags).toEqual(['--no-turbofan', '--turbofan'])
    expect(b.released).toHaveLength(1)
  })
})

describe('which instances hold the optimizer', () => {
  it('PROCESSES mode unless the option is off; never WORKERS mode (its threads share the process\'s flags)', async () => {
    const { instanceSettings } = await import('../../src/manager/local-backend.js')
    const { resolveOptions } = await import('../../src/manager/options.js')
    const { ProcessDriver } = await import('../../src/modes/processes.js')
    const { WorkerDriver } = await import('../../src/modes/workers.js')
    const file = new URL(import.meta.url).pathname
    const hold = (mode: 'processes' | 'workers', extra: Record<string, unknown> = {}) =>
      instanceSettings(resolveOptions({ file, mode, shards: 1, ...extra } as never), mode === 'processes' ? new ProcessDriver() : new WorkerDriver(), file).holdOptimizer
    expect(hold('processes')).toBe(true)
    expect(hold('processes', { holdOptimizerDuringImports: false })).toBe(false)
    expect(hold('workers')).toBe(false)
    expect(() => resolveOptions({ file, mode: 'processes', shards: 1, holdOptimizerDuringImports: 'yes' } as never)).toThrow(/holdOptimizerDuringImports/)
  })
})

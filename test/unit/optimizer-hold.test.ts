import { describe, expect, it } from 'vitest'
import { giveBackSharedHold, holdOptimizerDuringImports, optimizerFlagsGiven, takeSharedHold } from '../../src/runtime/optimizer-hold.js'

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

describe('the shared hold of WORKERS mode', () => {
  const newCount = () => new Int32Array(new SharedArrayBuffer(4))
  /** A setFlags that records what it was told. */
  const flagLog = () => {
    const flags: string[] = []
    return { flags, setFlags: (f: string) => void flags.push(f) }
  }

  it('the first share turns the compiler off, the last one given back turns it on', () => {
    const { flags, setFlags } = flagLog()
    const count = newCount()
    const a = takeSharedHold(count, setFlags)
    const b = takeSharedHold(count, setFlags)
    expect(flags).toEqual(['--no-turbofan'])
    expect(count[0]).toBe(2)
    expect(giveBackSharedHold(a, setFlags)).toBe(true)
    expect(flags).toEqual(['--no-turbofan'])
    expect(giveBackSharedHold(b, setFlags)).toBe(true)
    expect(flags).toEqual(['--no-turbofan', '--turbofan'])
    expect(count[0]).toBe(0)
    // a new boot holds it again
    const c = takeSharedHold(count, setFlags)
    expect(flags).toEqual(['--no-turbofan', '--turbofan', '--no-turbofan'])
    expect(giveBackSharedHold(c, setFlags)).toBe(true)
    expect(flags.at(-1)).toBe('--turbofan')
  })

  it('a share is given back once, whoever gives it (the worker, or the manager at its exit)', () => {
    const { flags, setFlags } = flagLog()
    const count = newCount()
    const a = takeSharedHold(count, setFlags)
    const b = takeSharedHold(count, setFlags)
    expect(giveBackSharedHold(a, setFlags)).toBe(true) // the worker
    expect(giveBackSharedHold(a, setFlags)).toBe(false) // the manager, when that worker exits
    expect(count[0]).toBe(1) // b still holds: the compiler stays off
    expect(flags).toEqual(['--no-turbofan'])
    expect(giveBackSharedHold(b, setFlags)).toBe(true)
    expect(giveBackSharedHold(b, setFlags)).toBe(false)
    expect(count[0]).toBe(0)
    expect(flags).toEqual(['--no-turbofan', '--turbofan'])
  })

  it('a worker releases by giving its share back, and says nothing when the manager already had', () => {
    const count = newCount()
    const a = fakeDeps()
    const share = takeSharedHold(count, a.deps.setFlags)
    holdOptimizerDuringImports({ ...a.deps, shared: share })
    expect(a.flags).toEqual(['--no-turbofan']) // taken by the manager, not again by the worker
    a.deps.advance(90)
    a.loader._load('/bot/node_modules/discord.js/src/index.js')
    expect(a.flags).toEqual(['--no-turbofan', '--turbofan'])
    expect(a.released).toEqual(['the first CommonJS load (/bot/node_modules/discord.js/src/index.js) after 90 ms'])
    expect(count[0]).toBe(0)

    const b = fakeDeps()
    const late = takeSharedHold(count, b.deps.setFlags)
    holdOptimizerDuringImports({ ...b.deps, shared: late })
    expect(giveBackSharedHold(late, b.deps.setFlags)).toBe(true) // the manager's limit came first
    b.loader._load('./index.js')
    expect(b.flags).toEqual(['--no-turbofan', '--turbofan'])
    expect(b.released).toEqual([])
  })
})

describe('which instances hold the optimizer', () => {
  it('both modes unless the option is off; WORKERS mode not when the manager\'s own flags set the optimizer', async () => {
    const { settingsFor } = await import('../helpers/instance-settings.js')
    const { resolveOptions } = await import('../../src/manager/options.js')
    const file = new URL(import.meta.url).pathname
    const hold = (mode: 'processes' | 'workers', extra: Record<string, unknown> = {}) => settingsFor(mode, extra).holdOptimizer
    expect(hold('processes')).toBe(true)
    expect(hold('processes', { holdOptimizerDuringImports: false })).toBe(false)
    expect(hold('workers')).toBe(true)
    expect(hold('workers', { holdOptimizerDuringImports: false })).toBe(false)
    const nodeOptions = process.env.NODE_OPTIONS
    process.env.NODE_OPTIONS = '--no-turbofan'
    try {
      expect(hold('workers')).toBe(false)
      // a process instance decides from its own flags, in its preload
      expect(hold('processes')).toBe(true)
    } finally {
      if (nodeOptions === undefined) delete process.env.NODE_OPTIONS
      else process.env.NODE_OPTIONS = nodeOptions
    }
    expect(() => resolveOptions({ file, mode: 'processes', shards: 1, holdOptimizerDuringImports: 'yes' } as never)).toThrow(/holdOptimizerDuringImports/)
  })
})

// The chaos harness's pure parts: options, fault plan, call verdicts, readiness and the report's
// attribution. The harness itself runs in chaos.test.ts.
import { describe, expect, it } from 'vitest'
// @ts-expect-error plain ESM harness modules without type declarations
import { ConfigError, makeRandom, parseFlags, resolveConfig } from '../../bench/chaos/config.mjs'
// @ts-expect-error see above
import { CallLedger, GRACE_MS, HUNG_MARGIN_MS } from '../../bench/chaos/ledger.mjs'
// @ts-expect-error see above
import { planFaults } from '../../bench/chaos/plan.mjs'
// @ts-expect-error see above
import { readiness, summarize } from '../../bench/chaos/readiness.mjs'
// @ts-expect-error see above
import { faultDuring, summarizeCalls } from '../../bench/chaos/report.mjs'

describe('chaos config', () => {
  it('scales the 10-minute quotas with the duration, at least one of each fault', () => {
    expect(resolveConfig({}, {}).quotas).toEqual({ kills: 100, cuts: 50, parentRestarts: 5, childRestarts: 10, hangs: 10, fills: 5, respawns: 6 })
    expect(resolveConfig({ duration: '60s' }, {}).quotas).toEqual({ kills: 10, cuts: 5, parentRestarts: 1, childRestarts: 1, hangs: 1, fills: 1, respawns: 1 })
  })

  it('reads flags before CHAOS_* variables, and names the option in every error', () => {
    const c = resolveConfig(parseFlags(['--duration', '2m', '--kills=7']), { CHAOS_KILLS: '3', CHAOS_CUTS: '4', CHAOS_TIMEOUT: '1000-1500' })
    expect([c.durationS, c.quotas.kills, c.quotas.cuts, c.timeoutMin, c.timeoutMax]).toEqual([120, 7, 4, 1000, 1500])
    expect(() => parseFlags(['--kils', '3'])).toThrow(/--kils: unknown option; known: .*--kills/)
    expect(() => resolveConfig({ kills: '-1' }, {})).toThrow(/--kills \(CHAOS_KILLS\): expected an integer/)
    expect(() => resolveConfig({ duration: 'soon' }, {})).toThrow(ConfigError)
    expect(() => resolveConfig({ 'shards-per-instance': '4' }, {})).toThrow(/--shards-per-instance: 4 must divide --shards-per-machine \(6\)/)
  })
})

describe('chaos fault plan', () => {
  it('meets every quota exactly, in a seeded order', () => {
    const quotas = { kills: 100, cuts: 50, parentRestarts: 5, childRestarts: 10, hangs: 10, fills: 5, respawns: 6 }
    const plan = planFaults(quotas, { instances: 6, machines: 2 }, makeRandom(42))
    const sum = (kind: string) => plan.filter((e: any) => e.kind === kind).reduce((n: number, e: any) => n + e.size, 0)
    expect([sum('kill'), sum('cut'), sum('parentRestart'), sum('childRestart'), sum('hang'), sum('fill'), sum('respawn')]).toEqual([100, 50, 5, 10, 10, 5, 6])
    expect(plan.every((e: any) => e.kind !== 'cut' || e.size <= 2)).toBe(true)
    expect(planFaults(quotas, { instances: 6, machines: 2 }, makeRandom(42))).toEqual(plan)
  })
})

describe('chaos call ledger', () => {
  const at = 1_000_000
  const open = (l: any, id: string, extra = {}) => l.open({ id, source: 'parent', caller: 'parent:1', op: 'bEvalAll', timeout: 2000, at, ...extra })

  it('judges timing by the measured time, excusing only the caller’s own stalled event loop', () => {
    const l = new CallLedger()
    open(l, 'a')
    open(l, 'b')
    open(l, 'c')
    l.settle('a', { ok: true, ms: 2000 + GRACE_MS })
    l.settle('b', { ok: false, code: 'TIMEOUT', name: 'TimeoutError', ms: 4000, stall: 100 })
    l.settle('c', { ok: false, code: 'TIMEOUT', name: 'TimeoutError', ms: 4000, stall: 1500 })
    expect(l.all().map((c: any) => c.timing)).toEqual(['inTime', 'late', 'lateStalled'])
  })

  it('calls a call hung when it stays pending past deadline + grace + margin while its caller lives', () => {
    const l = new CallLedger()
    open(l, 'a')
    open(l, 'b', { caller: 'pid:7' })
    const deadline = at + 2000 + GRACE_MS + HUNG_MARGIN_MS
    expect(l.sweep(deadline, () => true)).toEqual([])
    expect(l.sweep(deadline + 1, (c: string) => c === 'parent:1').map((c: any) => c.id)).toEqual(['a'])
    l.callerGone('parent:1')
    l.finish(() => false)
    expect(l.all().map((c: any) => c.timing)).toEqual(['hung', 'lost'])
  })

  it('accepts fault errors with their class, and only the expected code for ops that fail on purpose', () => {
    const l = new CallLedger({ extraCodes: ['SPAWNING'] })
    const cases: [string, object, object][] = [
      ['ok', {}, { ok: true, ms: 1 }],
      ['died', {}, { ok: false, code: 'INSTANCE_DIED', name: 'InstanceDiedError', ms: 1 }],
      ['extra', {}, { ok: false, code: 'SPAWNING', name: 'ShardingError', ms: 1 }],
      ['misnamed', {}, { ok: false, code: 'TIMEOUT', name: 'Error', ms: 1 }],
      ['uncoded', {}, { ok: false, code: null, name: 'TypeError', ms: 1 }],
      ['handler', {}, { ok: false, code: 'NO_HANDLER', name: 'ShardingError', ms: 1 }],
      ['partial', {}, { ok: true, ms: 1, partialErrors: ['LINK_LOST', 'REMOTE_ERROR'] }],
      ['noTarget', { expect: 'NO_TARGET', strict: true }, { ok: false, code: 'LINK_LOST', name: 'LinkLostError', ms: 1 }],
      ['throws', { expect: 'REMOTE_ERROR' }, { ok: false, code: 'LINK_LOST', name: 'LinkLostError', ms: 1 }],
      ['slow', { expect: 'TIMEOUT' }, { ok: true, ms: 1 }],
    ]
    for (const [id, extra, outcome] of cases) {
      open(l, id, extra)
      l.settle(id, outcome)
    }
    expect(Object.fromEntries(l.all().map((c: any) => [c.id, c.verdict]))).toEqual({
      ok: 'ok', died: 'failed', extra: 'failed', misnamed: 'wrongType', uncoded: 'wrongType', handler: 'wrongType', partial: 'wrongType',
      noTarget: 'wrongType', throws: 'failed', slow: 'unexpectedSuccess',
    })
  })
})

describe('chaos readiness and report', () => {
  const expected = { machines: ['m0'], instances: 2, totalShards: 4 }
  const status = (states: string[], machineState = 'ready') => ({
    machines: [{ id: 'm0', state: machineState, link: { up: machineState === 'ready' }, instances: states.map((state, i) => ({ id: i, state, pid: 100 + i })) }],
  })
  const oneEach = { '0/4': 1, '1/4': 1, '2/4': 1, '3/4': 1 }

  it('needs every machine and instance ready and exactly one live session per shard', () => {
    expect(readiness(status(['ready', 'ready']), oneEach, expected)).toMatchObject({ ready: true, pids: { 0: 100, 1: 101 }, linksUp: { m0: true } })
    expect(readiness(status(['ready', 'starting']), oneEach, expected).reason).toBe('instance 1 is starting')
    expect(readiness(status(['ready', 'ready'], 'down'), oneEach, expected).reason).toBe('machine m0 is down')
    expect(readiness(status(['ready', 'ready']), { ...oneEach, '2/4': 2 }, expected).reason).toBe('shard 2 has 2 connected gateway sessions')
    expect(readiness(null, oneEach, expected).ready).toBe(false)
  })

  it('attributes failed calls to the fault under way and summarizes latencies', () => {
    const faults = [{ kind: 'cut', injectAt: 100, endAt: 200, readyAt: 300 }]
    expect([faultDuring(faults, 0, 99), faultDuring(faults, 250, 400), faultDuring(faults, 301, 400), faultDuring(faults, 0, 99, 50)]).toEqual(['steady', 'cut', 'steady', 'startup'])
    const calls = [
      { source: 'parent', op: 'bEvalAll', at: 150, timeout: 1000, verdict: 'failed', timing: 'inTime', outcome: { ok: false, code: 'LINK_LOST', ms: 10 } },
      { source: 'instance', op: 'sendShard', at: 500, timeout: 1000, verdict: 'lost', timing: 'lost' },
      { source: 'parent', op: 'noTarget', expect: 'NO_TARGET', at: 500, timeout: 1000, verdict: 'failed', timing: 'inTime', outcome: { ok: false, code: 'NO_TARGET', ms: 1 } },
    ]
    const s = summarizeCalls(calls, faults)
    expect(s.total).toMatchObject({ made: 3, failed: 2, lost: 1, inTime: 2 })
    expect(s.byCode).toEqual({ LINK_LOST: { parent: 1, instance: 0 } })
    expect(s.byFault).toEqual({ cut: { LINK_LOST: 1 } })
    expect(s.onPurpose).toEqual({ noTarget: { expect: 'NO_TARGET', NO_TARGET: 1 } })
    expect(summarize([30, 10, 20, Number.NaN])).toEqual({ n: 3, p50: 20, p90: 30, max: 30 })
  })
})

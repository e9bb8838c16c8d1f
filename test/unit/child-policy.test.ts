import { describe, expect, it } from 'vitest'
import { OptionsError } from '../../src/errors.js'
import { readAssignment } from '../../src/machines/messages.js'
import { checkAssignmentPolicy, checkParent, DEFAULT_POLICY, isTrustedGatewayUrl, normalizeFingerprint, type ChildPolicy } from '../../src/machines/policy.js'
import { DEFAULT_ASSIGNMENT_LIMITS } from '../../src/machines/limits.js'
import { assignment as wellFormed } from '../helpers/assignment.js'

// The unit checks start from a 4-shard slice (two instances of 2).
const base = wellFormed({ machineId: 'm', shards: [0, 1, 2, 3], totalShards: 4, shardsPerInstance: 2 }) as Record<string, any>
const limit = { total: 1000, remaining: 990, reset_after: 5000, max_concurrency: 2 }
const read = (patch: Record<string, unknown>, limits = DEFAULT_ASSIGNMENT_LIMITS) => readAssignment({ ...base, ...patch }, limits)

describe('assignments from a parent are checked completely before anything runs', () => {
  it('accepts a well-formed one', () => {
    expect(read({}).shards).toEqual([0, 1, 2, 3])
  })

  it("accepts the parent's /gateway/bot answer for the child's instances", () => {
    const gateway = { api: 'http://x/api', data: { url: 'wss://g', shards: 4, session_start_limit: limit } }
    expect(read({ gateway }).gateway).toEqual(gateway)
    expect(read({}).gateway).toBeUndefined()
  })

  it.each([
    [{ shards: [-1] }, /^assignment\.shards\[0\]: expected an integer/],
    [{ shards: [4096] }, /^assignment\.shards\[0\]: shard 4096 does not exist in a bot of 4 shards/],
    [{ shards: [] }, /^assignment\.shards: is empty/],
    [{ shards: [1, 1] }, /^assignment\.shards\[1\]: shard ids must be unique and ascending/],
    [{ shards: Array.from({ length: 100_000 }, (_, i) => i), totalShards: 100_000 }, /^assignment\.shards: asks for 100000 shards; this child runs at most 4096 \(--max-shards\)/],
    [{ shardsPerInstance: 0 }, /^assignment\.shardsPerInstance: expected an integer from 1/],
    [{ shardsPerInstance: -1 }, /^assignment\.shardsPerInstance: expected an integer from 1/],
    [{ shardsPerInstance: 1, shards: Array.from({ length: 2000 }, (_, i) => i), totalShards: 2000 }, /makes 2000 instances; this child runs at most 1024 \(--max-instances\)/],
    [{ timeouts: { ...base.timeouts, heartbeatInterval: 1, heartbeat: 0 } }, /^assignment\.timeouts\.heartbeatInterval: expected an integer/],
    [{ timeouts: { ...base.timeouts, heartbeatInterval: 50, heartbeat: 0 } }, /^assignment\.timeouts\.heartbeatInterval: is 50 ms; a child accepts at least 100 ms/],
    [{ mode: 'cluster' }, /^assignment\.mode: expected one of/],
    [{ env: { A: 1 } }, /^assignment\.env\.A: expected a string/],
    [{ extra: true }, /^assignment\.extra: unknown option/],
    [{ machineId: '' }, /^assignment\.machineId: expected a non-empty string/],
    [{ gateway: { api: 'http://x/api', data: { url: 'wss://g', shards: 0, session_start_limit: limit } } }, /^assignment\.gateway\.data\.shards: expected an integer from 1/],
    [{ gateway: { api: 'http://x/api', data: { url: 'wss://g', shards: 1, session_start_limit: { ...limit, remaining: -1 } } } }, /^assignment\.gateway\.data\.session_start_limit\.remaining: expected an integer/],
    [{ gateway: { api: 'http://x/api', at: 5, data: { url: 'wss://g', shards: 1, session_start_limit: limit } } }, /^assignment\.gateway\.at: unknown option/],
  ])('refuses %j naming the field', (patch, message) => {
    expect(() => read(patch)).toThrow(OptionsError)
    expect(() => read(patch)).toThrow(message)
  })

  it('refuses non-objects', () => {
    for (const bad of [null, undefined, 42, 'assign', []]) expect(() => readAssignment(bad, DEFAULT_ASSIGNMENT_LIMITS)).toThrow(OptionsError)
  })
})

describe("the child operator's policy", () => {
  const policy = (p: Partial<ChildPolicy> = {}): ChildPolicy => ({ ...DEFAULT_POLICY, ...p })
  const assignment = (patch: Record<string, unknown>) => read(patch)

  it('refuses environment variables that load code, unless allowed', () => {
    for (const name of ['NODE_OPTIONS', 'node_options', 'LD_PRELOAD', 'DYLD_INSERT_LIBRARIES', 'NODE_PATH']) {
      expect(() => checkAssignmentPolicy(assignment({ env: { [name]: '--require /tmp/evil.js' } }), policy())).toThrow(new RegExp(`assignment\\.env\\.${name}: .*--allow-env`))
    }
    checkAssignmentPolicy(assignment({ env: { DISCORD_TOKEN: 'x', LOG_LEVEL: 'debug' } }), policy())
    checkAssignmentPolicy(assignment({ env: { NODE_OPTIONS: '--max-old-space-size=512' } }), policy({ allowEnv: ['NODE_OPTIONS'] }))
    expect(() => checkAssignmentPolicy(assignment({ env: { LOG_LEVEL: 'x' } }), policy({ allowEnv: ['DISCORD_TOKEN'] }))).toThrow(/accepts only the environment variables DISCORD_TOKEN/)
  })

  it('refuses Node flags that can run code, unless allowed', () => {
    for (const flag of ['--require=/tmp/x.js', '-r', '--import=data:text/javascript,1', '--eval=1', '--inspect=0.0.0.0:9229', '--loader=x', 'notaflag']) {
      expect(() => checkAssignmentPolicy(assignment({ execArgv: [flag] }), policy())).toThrow(/assignment\.execArgv\[0\]: .*--allow-exec-argv/)
    }
    checkAssignmentPolicy(assignment({ execArgv: ['--max-old-space-size=2048', '--enable-source-maps'] }), policy())
    checkAssignmentPolicy(assignment({ execArgv: ['--inspect=127.0.0.1:9229'] }), policy({ allowExecArgv: [...DEFAULT_POLICY.allowExecArgv, '--inspect'] }))
    checkAssignmentPolicy(assignment({ execArgv: ['--require=x'] }), policy({ allowExecArgv: ['*'] }))
  })

  it('pins the parent, and keeps a running pool with the parent that assigned it', () => {
    const a = 'AA:'.repeat(31) + 'AA'
    const b = 'BB:'.repeat(31) + 'BB'
    expect(normalizeFingerprint(a.toLowerCase().replace(/:/g, ''))).toBe(a)
    expect(() => normalizeFingerprint('abc')).toThrow(/SHA-256 certificate fingerprint/)
    expect(checkParent(a, policy({ parent: a }), null)).toBeNull()
    expect(checkParent(b, policy({ parent: a }), null)).toMatch(/accepts only the parent certificate/)
    expect(checkParent(b, policy(), a)).toMatch(/cannot take them over/)
    expect(checkParent(a, policy(), a)).toBeNull() // the same parent, back after a restart
    expect(checkParent(b, policy(), null)).toBeNull() // nothing runs: any trusted parent
    expect(checkParent(b, policy({ stickyParent: false }), a)).toBeNull()
  })
})

describe("a gateway URL in the parent's /gateway/bot answer", () => {
  it.each(['wss://gateway.discord.gg', 'wss://gateway-us-east1-b.discord.gg/?v=10', 'ws://127.0.0.1:8787', 'wss://localhost:9000/gateway', 'ws://[::1]:4000'])('hands %s to the instances', (url) => {
    expect(isTrustedGatewayUrl(url)).toBe(true)
  })

  it.each(['wss://evil.example', 'wss://discord.gg.evil.example', 'ws://gateway.discord.gg', 'ws://10.0.0.5:8787', 'https://gateway.discord.gg', 'not a url'])(
    'does not hand %s over (the instances would send their tokens there)',
    (url) => {
      expect(isTrustedGatewayUrl(url)).toBe(false)
    },
  )
})

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { OptionsError } from '../../src/errors.js'
import { CliUsageError, DEMO_MAX_INSTANCES, flagOfField, resolveDemoOptions, usageErrorFrom } from '../../src/cli/options.js'
import { packageRoot } from '../../src/cli/paths.js'
import { main, type CliActions } from '../../src/cli/program.js'
import { simulatorCliOptions } from '../../src/cli/simulator.js'
import { resolveStatusOptions, statusUrl, type StatusFlags } from '../../src/cli/status.js'
import type { DemoFlags } from '../../src/cli/options.js'

const root = packageRoot()

function usageError(fn: () => unknown): CliUsageError {
  try {
    fn()
  } catch (err) {
    if (err instanceof CliUsageError) return err
    throw err
  }
  throw new Error('expected a CliUsageError')
}

describe('demo options', () => {
  it('has the documented defaults and resolves the example bots from the package root', () => {
    const o = resolveDemoOptions({}, root)
    expect(o).toMatchObject({
      shards: 16,
      shardsPerInstance: 4,
      instances: 4,
      mode: 'processes',
      guilds: 400,
      maxConcurrency: 4,
      durationMs: null,
      windowMs: 5000,
      marginMs: 250,
      verbose: false,
      bot: { kind: 'opted-in', file: join(root, 'examples/bots/discordjs-bot.mjs') },
    })
    expect(resolveDemoOptions({ bot: 'unmodified' }, root).bot.file).toBe(join(root, 'examples/bots/discordjs-unmodified.mjs'))
  })

  it('accepts strings as commander passes them', () => {
    const o = resolveDemoOptions({ shards: '4', shardsPerInstance: '2', mode: 'workers', duration: '2.5', windowMs: '500', maxConcurrency: '1', guilds: '0' }, root)
    expect(o).toMatchObject({ shards: 4, shardsPerInstance: 2, instances: 2, mode: 'workers', durationMs: 2500, windowMs: 500, maxConcurrency: 1, guilds: 0 })
  })

  it.each<[DemoFlags, string]>([
    [{ shards: 'abc' }, '--shards: must be a whole number, got "abc"'],
    [{ shards: '1.5' }, '--shards: must be a whole number, got "1.5"'],
    [{ shards: '0' }, '--shards: must be between 1 and 1024, got 0'],
    [{ shards: '4e2' }, '--shards: must be a whole number, got "4e2"'],
    [{ shardsPerInstance: '-1' }, '--shards-per-instance: must be between 1 and 1024, got -1'],
    [{ maxConcurrency: '' }, '--max-concurrency: must be a whole number, got ""'],
    [{ windowMs: '70000' }, '--window-ms: must be between 0 and 60000, got 70000'],
    [{ duration: '0' }, '--duration: must be more than 0 and at most 86400 seconds, got 0'],
    [{ duration: 'soon' }, '--duration: must be a number of seconds, got "soon"'],
    [{ mode: 'threads' }, `--mode: must be 'processes' or 'workers', got "threads"`],
    [{ guilds: '10000', shards: '2' }, '--guilds: 10000 guilds on 2 shards is more than 2500 per shard'],
    [{ shards: '200', shardsPerInstance: '1' }, `--shards-per-instance: 200 shards at 1 per instance would start 200 instances; the demo starts at most ${DEMO_MAX_INSTANCES}`],
    [{ bot: 'nope.txt' }, "--bot: must be 'opted-in', 'unmodified' or the path of a .js/.mjs/.cjs client file"],
    [{ bot: './missing-bot.mjs' }, '--bot: no such file:'],
  ])('rejects %j with one line naming the flag', (flags, message) => {
    const err = usageError(() => resolveDemoOptions(flags, root))
    expect(err.message.startsWith(message)).toBe(true)
    expect(err.message).not.toContain('\n')
  })

  it('takes the path of your own client file, relative to the working directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'discordoo-cli-'))
    writeFileSync(join(dir, 'bot.mjs'), '')
    expect(resolveDemoOptions({ bot: 'bot.mjs' }, root, dir).bot).toEqual({ kind: 'file', file: join(dir, 'bot.mjs') })
  })
})

describe('simulator options', () => {
  it('maps flags to startSimulatorFromCli and checks the port', () => {
    expect(simulatorCliOptions({})).toEqual({ port: 8787, host: '127.0.0.1' })
    expect(simulatorCliOptions({ port: '0', guilds: '50', maxConcurrency: '16', token: 'a,b', adminAnyHost: true })).toEqual({
      port: 0,
      host: '127.0.0.1',
      guilds: '50',
      maxConcurrency: '16',
      token: 'a,b',
      adminAnyHost: true,
    })
    expect(usageError(() => simulatorCliOptions({ port: '70000' })).message).toBe('--port: must be between 0 and 65535, got 70000')
  })

  it('names the flag when the simulator rejects an option', () => {
    expect(flagOfField('maxConcurrency')).toBe('--max-concurrency')
    expect(flagOfField('recommendedShards')).toBe('--shards')
    expect(flagOfField('sessionStartLimit.total')).toBe('--session-limit')
    expect(usageErrorFrom(new OptionsError('heartbeatIntervalMs', 'must be an integer >= 1, got 0'))?.message).toBe('--heartbeat-interval-ms: must be an integer >= 1, got 0')
    expect(usageErrorFrom(new Error('other'))).toBeNull()
  })
})

describe('status options', () => {
  it('adds /status to the metrics address and reads --watch as seconds', () => {
    expect(statusUrl('http://127.0.0.1:9100')).toBe('http://127.0.0.1:9100/status')
    expect(statusUrl('http://[::1]:9100/status')).toBe('http://[::1]:9100/status')
    expect(statusUrl('http://host:9100/prefix/?x=1')).toBe('http://host:9100/prefix/status')
    expect(resolveStatusOptions({ url: 'http://h:1' })).toEqual({ url: 'http://h:1/status', watchMs: null, timeoutMs: 5000 })
    expect(resolveStatusOptions({ url: 'http://h:1', watch: true }).watchMs).toBe(2000)
    expect(resolveStatusOptions({ url: 'http://h:1', watch: '0.5', timeout: '1' })).toMatchObject({ watchMs: 500, timeoutMs: 1000 })
  })
})

describe('command line', () => {
  function run(argv: string[]) {
    const out: string[] = []
    const err: string[] = []
    const calls: { demo: DemoFlags[]; simulator: unknown[]; status: StatusFlags[] } = { demo: [], simulator: [], status: [] }
    const actions: CliActions = {
      demo: async (flags) => {
        calls.demo.push(flags)
        resolveDemoOptions(flags, root)
        return 0
      },
      simulator: async (flags) => {
        calls.simulator.push(flags)
        simulatorCliOptions(flags)
      },
      status: async (flags) => {
        calls.status.push(flags)
        resolveStatusOptions(flags)
        return 0
      },
      parent: async () => 0,
    }
    const output = { writeOut: (t: string) => void out.push(t), writeErr: (t: string) => void err.push(t) }
    return main(['node', 'discordoo', ...argv], actions, output).then((result) => ({ result, out: out.join(''), err: err.join(''), calls }))
  }

  it('passes demo flags to the action with their defaults', async () => {
    const { result, calls, err } = await run(['demo', '--shards', '4', '--mode', 'workers', '--duration', '3', '--window-ms', '500', '--bot', 'unmodified'])
    expect(err).toBe('')
    expect(result).toEqual({ exitCode: 0 })
    expect(calls.demo[0]).toMatchObject({ shards: '4', shardsPerInstance: 4, mode: 'workers', duration: '3', windowMs: '500', bot: 'unmodified', guilds: 400 })
  })

  it('keeps running after the simulator starts', async () => {
    const { result, calls } = await run(['simulator', '--port', '0', '--guilds', '5'])
    expect(result).toEqual({ keepRunning: true })
    expect(calls.simulator[0]).toMatchObject({ port: '0', guilds: '5', host: '127.0.0.1' })
  })

  it('documents every flag in --help', async () => {
    const demo = await run(['demo', '--help'])
    expect(demo.result).toEqual({ exitCode: 0 })
    for (const flag of ['--shards <n>', '--shards-per-instance <n>', '--mode <mode>', '--guilds <n>', '--max-concurrency <n>', '--window-ms <ms>', '--margin-ms <ms>', '--duration <seconds>', '--bot <bot>', '--verbose']) {
      expect(demo.out).toContain(flag)
    }
    expect(demo.out).toContain('(default: 16)')
    const sim = await run(['simulator', '--help'])
    for (const flag of ['--port <port>', '--host <host>', '--guilds <n>', '--max-concurrency <n>', '--token <tokens>', '--window-ms <ms>', '--shards <n>', '--max-guilds-per-shard <n>', '--heartbeat-interval-ms <ms>', '--session-limit <n>', '--budget-exhausted-mode <mode>', '--public-url <url>', '--admin-any-host']) {
      expect(sim.out).toContain(flag)
    }
    const status = await run(['status', '--help'])
    for (const flag of ['--url <url>', '--watch [seconds]', '--timeout <seconds>']) expect(status.out).toContain(flag)
    const top = await run(['--help'])
    expect(top.out).toContain('status [options]')
    expect(top.out).toContain('demo [options]')
    expect(top.out).toContain('simulator [options]')
  })

  it.each([
    [['demo', '--shard', '3'], "error: unknown option '--shard' (Did you mean --shards?)"],
    [['demo', '--mode', 'fast'], "error: option '--mode <mode>' argument 'fast' is invalid. Allowed choices are processes, workers."],
    [['demo', '--shards', 'many'], 'discordoo demo: error: --shards: must be a whole number, got "many" (see discordoo demo --help)'],
    [['demo', '--duration'], "error: option '--duration <seconds>' argument missing"],
    [['demo', 'extra'], "error: too many arguments for 'demo'. Expected 0 arguments but got 1."],
    [['simulator', '--port', 'x'], 'discordoo simulator: error: --port: must be a whole number, got "x" (see discordoo simulator --help)'],
    [['status'], 'discordoo status: error: --url: is required: the metrics address of the manager, e.g. http://127.0.0.1:9100 (see discordoo status --help)'],
    [['status', '--url', 'localhost:9100'], 'discordoo status: error: --url: expected an http:// URL, got "localhost:9100" (see discordoo status --help)'],
    [['status', '--url', 'http://127.0.0.1:9', '--watch', '0'], 'discordoo status: error: --watch: expected a number of seconds between 0.1 and 3600, got "0" (see discordoo status --help)'],
    [['launch'], "error: unknown command 'launch'"],
  ])('%j: one clear line and exit code 2', async (argv, line) => {
    const { result, err, calls } = await run(argv)
    expect(result).toEqual({ exitCode: 2 })
    expect(err).toBe(`${line}\n`)
    expect(calls.demo.length + calls.simulator.length).toBeLessThanOrEqual(1)
  })
})

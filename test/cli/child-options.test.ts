// discordoo-child's flags and --config fields, down to the manager options they make (no sockets).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildChildProgram, childManagerOptions, resolveChildConfig } from '../../src/cli/child.js'
import { CliUsageError } from '../../src/cli/options.js'
import { ShardingManager } from '../../src/manager/ShardingManager.js'
import { makeCert, makeTempDir, removeDir, type MadeCert } from '../helpers/certs.js'

let dir: string
let child: MadeCert
let parent: MadeCert
beforeAll(() => {
  dir = makeTempDir('dsm-child-opts-')
  child = makeCert(dir, 'child')
  parent = makeCert(dir, 'parent')
  writeFileSync(join(dir, 'bot.js'), '')
})
afterAll(() => removeDir(dir))

function resolve(args: string[]) {
  const program = buildChildProgram({ writeOut: () => {}, writeErr: (t) => { throw new Error(t) } })
  program.parse(args, { from: 'user' })
  const defaulted = new Set(program.options.map((o) => o.attributeName()).filter((n) => program.getOptionValueSource(n) === 'default'))
  return resolveChildConfig(program.opts(), defaulted).config
}
const base = () => ['--host', '127.0.0.1', '--file', join(dir, 'bot.js'), '--cert', child.certPath, '--key', child.keyPath, '--trust', parent.certPath]

function usage(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof CliUsageError) return err.message
    throw err
  }
  throw new Error('expected a CliUsageError')
}

describe('discordoo-child policy flags', () => {
  it('reach the child manager as machines.policy and machines.limits', () => {
    const c = resolve([...base(), '--allow-env', 'BOT_MODE', '--allow-env', 'LOG_LEVEL', '--allow-exec-argv', '--expose-gc', '--no-eval', '--parent', parent.certPath, '--any-parent', '--max-shards', '64', '--max-instances', '8'])
    const m = new ShardingManager(childManagerOptions(c))
    const machines = m.options.machines as unknown as { policy: Record<string, unknown>; limits: Record<string, number> }
    expect(machines.policy).toMatchObject({ allowEnv: ['BOT_MODE', 'LOG_LEVEL'], eval: false, parent: expect.any(String), stickyParent: false })
    expect(machines.policy.allowExecArgv).toEqual(expect.arrayContaining(['--expose-gc']))
    expect(machines.limits).toMatchObject({ maxShards: 64, maxInstances: 8 })
  })

  it('without them the defaults stand (eval on, sticky parent), also when --config says nothing', () => {
    const c = resolve(base())
    expect(c.eval).toBeUndefined()
    const machines = new ShardingManager(childManagerOptions(c)).options.machines as unknown as { policy: { eval: boolean; stickyParent: boolean } }
    expect(machines.policy).toMatchObject({ eval: true, stickyParent: true })
  })

  it('reads the same fields from --config; flags win; bad values name the field', () => {
    const config = join(dir, 'child.json')
    writeFileSync(config, JSON.stringify({ host: '127.0.0.1', file: 'bot.js', cert: 'child.crt', key: 'child.key', trust: 'parent.crt', eval: false, allowEnv: 'BOT_MODE', maxShards: 10 }))
    expect(resolve(['--config', config])).toMatchObject({ eval: false, allowEnv: ['BOT_MODE'], maxShards: 10 })
    expect(resolve(['--config', config, '--max-shards', '20']).maxShards).toBe(20)
    writeFileSync(config, JSON.stringify({ host: '127.0.0.1', file: 'bot.js', cert: 'child.crt', key: 'child.key', trust: 'parent.crt', eval: 'no' }))
    expect(usage(() => resolve(['--config', config]))).toBe(`--config ${config}: eval: expected true or false, got "no"`)
    expect(usage(() => resolve([...base(), '--max-shards', '0']))).toBe('--max-shards: expected a whole number ≥ 1, got "0"')
  })
})

import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHILD_BIN, childProcess, childProcessFails, dropCerts, makeCerts, stopMachines, type Certs } from '../helpers/machines.js'
import { fixture } from '../helpers/manager.js'
import { freePort } from '../helpers/ports.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

let certs: Certs
beforeAll(() => {
  certs = makeCerts(1)
})
afterAll(async () => {
  await stopMachines()
  dropCerts(certs)
})

describe('discordoo-child CLI', () => {
  const base = () => ['--host', '127.0.0.1', '--file', fixture('basic-client.mjs'), '--cert', certs.children[0].certPath, '--key', certs.children[0].keyPath, '--trust', certs.parent.certPath]

  it('--help documents every flag', () => {
    const help = execFileSync(process.execPath, [CHILD_BIN, '--help'], { encoding: 'utf8' })
    for (const flag of ['--host', '--port', '--file', '--cert', '--key', '--trust', '--dhparam', '--udp', '--config', '--verbose']) expect(help).toContain(flag)
    expect(help).toContain('8379')
  })

  it.each([
    [['--file', '/nope/bot.js'], /^discordoo-child: --file: no such file: \/nope\/bot\.js$/m],
    [['--cert', '/nope/cert.pem'], /^discordoo-child: --cert.*\/nope\/cert\.pem/m],
    [['--trust', '/nope/parent.pem'], /^discordoo-child: --trust.*\/nope\/parent\.pem/m],
  ])('a bad flag (%j) prints one clear line and exits non-zero', async (override, message) => {
    const args = base()
    const i = args.indexOf(override[0])
    args[i + 1] = override[1]
    const { code, output } = await childProcessFails(args)
    expect(code).not.toBe(0)
    expect(output).toMatch(message)
    expect(output.trim().split('\n')).toHaveLength(1)
  })

  it('a missing required flag names it', async () => {
    const { code, output } = await childProcessFails(['--host', '127.0.0.1'])
    expect(code).not.toBe(0)
    expect(output).toMatch(/--file: is required/)
  })

  it('a port in use is one clear line', async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
    const port = (blocker.address() as { port: number }).port
    const { code, output } = await childProcessFails([...base(), '--port', String(port)])
    blocker.close()
    expect(code).not.toBe(0)
    expect(output).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}`))
    expect(output.trim().split('\n')).toHaveLength(1)
  })

  it('reads the same fields from --config, and stops on SIGTERM', async () => {
    const port = await freePort()
    const config = join(certs.dir, 'child.json')
    writeFileSync(config, JSON.stringify({ host: '127.0.0.1', port, file: fixture('basic-client.mjs'), cert: certs.children[0].certPath, key: certs.children[0].keyPath, trust: [certs.parent.certPath] }))
    const { proc, output } = await childProcess(['--config', config])
    expect(output()).toContain(`listening on 127.0.0.1:${port}`)
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    proc.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})

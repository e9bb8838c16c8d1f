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
    for (const flag of ['--host', '--port', '--file', '--cert', '--key', '--trust', '--dhparam', '--udp', '--config', '--verbose', '--allow-env', '--allow-exec-argv', '--no-eval', '--parent', '--any-parent', '--max-shards', '--max-instances']) expect(help).toContain(flag)
    expect(help).toContain('8379')
  })

  it.each([
    [['--file', '/nope/bot.js'], /^discordoo-child: error: --file: no such file: \/nope\/bot\.js \(see discordoo-child --help\)$/m],
    [['--cert', '/nope/cert.pem'], /^discordoo-child: error: --cert: .*\/nope\/cert\.pem/m],
    [['--trust', '/nope/parent.pem'], /^discordoo-child: error: --trust: .*\/nope\/parent\.pem/m],
    [['--port', 'eighty'], /^discordoo-child: error: --port: expected a port 0\.\.65535, got "eighty"/m],
  ])('a bad flag (%j) prints one clear line and exits 2, as discordoo does', async (override, message) => {
    const args = base()
    const i = args.indexOf(override[0])
    if (i === -1) args.push(...override)
    else args[i + 1] = override[1]
    const { code, output } = await childProcessFails(args)
    expect(code).toBe(2)
    expect(output).toMatch(message)
    expect(output.trim().split('\n')).toHaveLength(1)
  })

  it('a missing required flag names it; an unknown flag is a usage error too', async () => {
    const missing = await childProcessFails(['--host', '127.0.0.1'])
    expect(missing.code).toBe(2)
    expect(missing.output).toMatch(/^discordoo-child: error: --file: is required/m)
    const unknown = await childProcessFails([...base(), '--tls', 'x'])
    expect(unknown.code).toBe(2)
    expect(unknown.output.trim().split('\n')).toHaveLength(1)
  })

  it('names the --config field, and an unknown field, when the value came from the file', async () => {
    const config = join(certs.dir, 'bad-child.json')
    writeFileSync(config, JSON.stringify({ host: '127.0.0.1', file: fixture('basic-client.mjs'), cert: 'missing.pem', key: certs.children[0].keyPath, trust: certs.parent.certPath }))
    const bad = await childProcessFails(['--config', config])
    expect(bad.code).toBe(2)
    expect(bad.output).toMatch(new RegExp(`^discordoo-child: error: --config ${config.replace(/[.]/g, '\\.')}: cert: .*${join(certs.dir, 'missing.pem').replace(/[.]/g, '\\.')}`, 'm'))
    writeFileSync(config, JSON.stringify({ host: '127.0.0.1', certificate: 'x.pem' }))
    const typo = await childProcessFails(['--config', config])
    expect(typo.code).toBe(2)
    expect(typo.output).toMatch(/--config .*: certificate: unknown field; the fields are host, port, file, cert/)
  })

  it('a port in use is one clear line', async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
    const port = (blocker.address() as { port: number }).port
    const { code, output } = await childProcessFails([...base(), '--port', String(port)])
    blocker.close()
    expect(code).toBe(1)
    expect(output).toMatch(new RegExp(`^discordoo-child: .*127\\.0\\.0\\.1:${port}`, 'm'))
    expect(output.trim().split('\n')).toHaveLength(1)
  })

  it('reads the same fields from --config (trust as one string, paths relative to the file), and stops on SIGTERM', async () => {
    const port = await freePort()
    const config = join(certs.dir, 'child.json')
    // cert, key and trust relative to the config file's folder; the process runs elsewhere.
    writeFileSync(config, JSON.stringify({ host: '127.0.0.1', port, file: fixture('basic-client.mjs'), cert: 'child0.crt', key: 'child0.key', trust: 'parent.crt' }))
    const { proc, output } = await childProcess(['--config', config])
    expect(output()).toContain(`listening on 127.0.0.1:${port}`)
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    proc.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(output()).toMatch(/SIGTERM: stopping the shards\n.*stopped\n/)
  })
})

// `discordoo parent --config` end to end: the parent through the CLI, two children through
// `discordoo-child`, /gateway/bot from the simulator, metrics, `discordoo status`, and Ctrl-C.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { GatewaySimulator } from '../../dist/simulator.js'
import { childProcess, dropCerts, makeCerts, stopMachines, type Certs } from '../helpers/machines.js'
import { fixture } from '../helpers/manager.js'
import { freePort } from '../helpers/ports.js'
import { DISCORDOO_BIN, killLeftovers, runCli } from '../cli/run-cli.js'

let certs: Certs
let sim: GatewaySimulator
let restUrl: string
beforeAll(async () => {
  certs = makeCerts(2)
  sim = new GatewaySimulator({ tokens: ['parent-cli-token'], maxConcurrency: 2, windowMs: 200, guilds: 20 })
  ;({ restUrl } = await sim.start({ port: 0, host: '127.0.0.1' }))
})
afterEach(async () => {
  killLeftovers()
  await stopMachines()
})
afterAll(async () => {
  await sim.stop()
  dropCerts(certs)
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Writes parent.json into its own folder, with paths relative to it (as an operator would). */
function writeConfig(name: string, config: Record<string, unknown>): string {
  const dir = join(certs.dir, name)
  mkdirSync(dir, { recursive: true })
  const path = join(dir, 'parent.json')
  writeFileSync(path, JSON.stringify(config, null, 2))
  return path
}

const tls = () => ({ public: '../parent.crt', private: '../parent.key', trustedConnections: ['../child0.crt', '../child1.crt'] })

async function startChildren(): Promise<number[]> {
  const ports = [await freePort(), await freePort()]
  await Promise.all(
    ports.map((port, i) =>
      childProcess(['--host', '127.0.0.1', '--port', String(port), '--file', fixture('basic-client.mjs'), '--cert', certs.children[i].certPath, '--key', certs.children[i].keyPath, '--trust', certs.parent.certPath]),
    ),
  )
  return ports
}

describe('discordoo parent --config (end to end)', () => {
  it('runs two children from a JSON file, serves metrics and status, and stops every shard on Ctrl-C', async () => {
    const ports = await startChildren()
    const config = writeConfig('ok', {
      api: restUrl,
      identify: { windowMs: 200, marginMs: 0 },
      tls: tls(),
      points: [
        { host: '127.0.0.1', port: ports[0], childManagerOptions: { mode: 'processes', shards: { from: 0, to: 3 }, shardsPerInstance: 2 } },
        { host: '127.0.0.1', port: ports[1], childManagerOptions: { mode: 'workers', shards: { from: 4, to: 7 }, shardsPerInstance: 2 } },
      ],
      link: { heartbeatInterval: 200, heartbeatTimeout: 1500, reconnectDelay: 100, maxReconnectDelay: 400 },
      env: { FIXTURE_IDENTIFY: '1' },
      metrics: { port: 0 },
    })
    const parent = runCli(DISCORDOO_BIN, ['parent', '--config', config], { env: { ...process.env, DISCORD_TOKEN: 'parent-cli-token' } })
    const [, url] = await parent.waitFor(/metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/)
    await parent.waitFor(/all 8 shards ready on 2 machines in [\d.]+ (ms|s); Ctrl-C stops them/)
    const out = parent.output()
    expect(out).toMatch(new RegExp(`parent starting: 2 machines: 127\\.0\\.0\\.1:${ports[0]} \\(0-3\\), 127\\.0\\.0\\.1:${ports[1]} \\(4-7\\) · token from DISCORD_TOKEN`))
    for (const port of ports) expect(out).toContain(`machine 127.0.0.1:${port} ready: 2 instances`)
    expect(out).not.toContain('parent-cli-token')

    const health = await fetch(`${url}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.text()).toBe('ok: 8/8 shards ready\n')
    const status = (await (await fetch(`${url}/status`)).json()) as { identify: { maxConcurrency: number; granted: number }; machines: { instances: { pid: number }[] }[] }
    // max_concurrency 2 came from the simulator's /gateway/bot, asked with DISCORD_TOKEN.
    expect(status.identify).toMatchObject({ maxConcurrency: 2, granted: 8 })
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toContain('discordoo_shards{state="ready"} 8')
    expect(metrics).toContain(`discordoo_machine_link_up{machine="127.0.0.1:${ports[0]}"} 1`)

    const table = runCli(DISCORDOO_BIN, ['status', '--url', url])
    expect((await table.exit).code).toBe(0)
    expect(table.output()).toContain('machines · 8/8 shards ready · 4/4 instances ready')
    expect(table.output()).toContain(`machine 127.0.0.1:${ports[1]} · ready · link up`)

    // The PROCESSES child's instances are processes of their own (the WORKERS child's are threads of the child itself).
    const pids = status.machines[0].instances.map((i) => i.pid)
    expect(pids).toHaveLength(2)
    parent.child.kill('SIGINT')
    const { code } = await parent.exit
    const final = parent.output()
    expect(code, final).toBe(0)
    expect(final).toContain('SIGINT: stopping the shards on 2 machines; the children stay in standby for the next parent')
    expect(final).toContain('stopped: every shard on every child is stopped; the children are in standby')
    for (const pid of pids) expect(alive(pid), `instance pid ${pid}`).toBe(false)
  })

  it.each([
    ['a missing certificate', (c: Record<string, any>) => (c.points[1].tls = { ...tls(), public: 'nope.pem' }), /: points\[1\]\.tls\.public: no such file: .*\/bad\/nope\.pem/],
    ['an unknown field', (c: Record<string, any>) => (c.point = []), /: point: unknown field; the fields are points, tls, link/],
    ['overlapping ranges (checked by the manager)', (c: Record<string, any>) => (c.points[1].childManagerOptions.shards = { from: 3, to: 5 }), /: points\[1\]\.childManagerOptions\.shards: shard 3 is also assigned to machines\.points\[0\]/],
    ['a bad metrics port', (c: Record<string, any>) => (c.metrics = { port: 'x' }), /: metrics\.port: expected a TCP port 0\.\.65535, got "x"/],
  ])('%s is one line naming the field, exit 2', async (_what, edit, message) => {
    const c: Record<string, any> = {
      tls: tls(),
      points: [
        { host: '127.0.0.1', port: 1, childManagerOptions: { mode: 'processes', shards: { from: 0, to: 3 } } },
        { host: '127.0.0.1', port: 2, childManagerOptions: { mode: 'processes', shards: { from: 4, to: 7 } } },
      ],
    }
    edit(c)
    const config = writeConfig('bad', c)
    const run = runCli(DISCORDOO_BIN, ['parent', '--config', config])
    const { code } = await run.exit
    expect(code, run.output()).toBe(2)
    expect(run.output()).toMatch(new RegExp(`^discordoo parent: error: ${config.replace(/[.]/g, '\\.')}${message.source}.* \\(see discordoo parent --help\\)\\n$`))
  })

  it('without --config says what it needs, exit 2', async () => {
    const run = runCli(DISCORDOO_BIN, ['parent'])
    expect((await run.exit).code).toBe(2)
    expect(run.output()).toMatch(/^discordoo parent: error: --config: is required/)
  })
})

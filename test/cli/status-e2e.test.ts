// `discordoo status --url` as its own process, against a metrics server with a made-up source.
import { afterEach, describe, expect, it } from 'vitest'
import { createMetricsServer, type MetricsServer } from '../../src/metrics/index.js'
import { fakeSource } from '../metrics/fake-source.js'
import { freePort } from '../helpers/ports.js'
import { DISCORDOO_BIN, killLeftovers, runCli } from './run-cli.js'

const servers: MetricsServer[] = []
afterEach(async () => {
  killLeftovers()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

async function serve() {
  const source = fakeSource()
  const server = await createMetricsServer(source, { port: 0 })
  servers.push(server)
  return { source, server }
}

describe('discordoo status (end to end)', () => {
  it('prints the status table and the machine links once, and exits 0', async () => {
    const { server } = await serve()
    const run = runCli(DISCORDOO_BIN, ['status', '--url', server.url])
    const { code } = await run.exit
    const out = run.output()
    expect(code, out).toBe(0)
    expect(out).toContain('machines · 7/8 shards ready · 3/4 instances ready')
    expect(out).toContain('identify: 8 granted, 1 waiting · max_concurrency 2')
    expect(out).toContain('budget 992/1000')
    expect(out).toMatch(/\n\s+3\s+6-7\s+starting\s+pid 4003\s+1m01s\s+1\/2\s+1 identifying, 1 ready/)
    expect(out).toMatch(/\n\s+total\s+3\/4 ready\s+7\/8/)
    expect(out).toContain('machine 10.0.18.1:8379 · ready · link up · rtt 1.50 ms · TLS · 0 queued · 1 resume · 2 instances')
    expect(out).toContain('machine [fe80::1]:8379 · up · link up · rtt 2.25 ms · UDP · 3 queued · 0 resumes · 2 instances')
  })

  it('--watch redraws until SIGTERM, follows the manager as it changes, then exits 0', async () => {
    const { source, server } = await serve()
    const run = runCli(DISCORDOO_BIN, ['status', '--url', `${server.url}/status`, '--watch', '0.2'])
    await run.waitFor(/7\/8 shards ready/)
    source.allReady = true
    await run.waitFor(/8\/8 shards ready/)
    expect(run.output()).toMatch(/every 200 ms · Ctrl-C to stop/)
    run.child.kill('SIGTERM')
    expect((await run.exit).code).toBe(0)
  })

  it('an unreachable manager is one line and exit 1', async () => {
    const port = await freePort()
    const run = runCli(DISCORDOO_BIN, ['status', '--url', `http://127.0.0.1:${port}`])
    expect((await run.exit).code).toBe(1)
    expect(run.output()).toBe(`discordoo status: cannot reach http://127.0.0.1:${port}/status: connection refused (is the manager running with metrics on that address?)\n`)
  })
})

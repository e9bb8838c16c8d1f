import { createServer } from 'node:net'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterEach, describe, expect, it } from 'vitest'
import {
  collectFamilies,
  createMetricsServer,
  health,
  histogramSamples,
  MetricsRecorder,
  renderExposition,
  respond,
  type MetricsServer,
} from '../../src/metrics/index.js'
import { fakeSource, fakeStatus } from './fake-source.js'

/** Every metric the issue asks for, by the name it is exported under. */
const REQUIRED = {
  'shards by state': 'discordoo_shards',
  'instances by state': 'discordoo_instances',
  restarts: 'discordoo_instance_restarts_total',
  'restarts by cause': 'discordoo_restarts_total',
  'identify grants': 'discordoo_identify_grants_total',
  'identify queue length': 'discordoo_identify_queue_length',
  'budget remaining': 'discordoo_identify_budget_remaining',
  'request counts by kind': 'discordoo_requests_total',
  'request errors by kind': 'discordoo_request_errors_total',
  'request latency by kind': 'discordoo_request_duration_seconds',
  'link state per machine': 'discordoo_machine_link_up',
  'link round trip per machine': 'discordoo_machine_link_rtt_seconds',
  're-shards': 'discordoo_reshards_total',
  failovers: 'discordoo_failovers_total',
}

const servers: MetricsServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

/**
 * The parser folds every series of a histogram into one object and drops _sum/_count of labelled
 * series, so histogram values are checked on the text of one series with its labels removed.
 */
function oneHistogramSeries(text: string, name: string, label: string): string {
  const lines = text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) || (l.startsWith(`${name}_`) && l.includes(label)))
  return lines.map((l) => l.replace(`${label},`, '').replace(`{${label}}`, '')).join('\n') + '\n'
}

type Parsed = ReturnType<typeof parsePrometheusTextFormat>
function byName(parsed: Parsed): Map<string, Parsed[number]> {
  return new Map(parsed.map((f) => [f.name, f]))
}
function value(parsed: Map<string, Parsed[number]>, name: string, labels: Record<string, string> = {}): number {
  const family = parsed.get(name)
  if (!family) throw new Error(`no metric ${name}`)
  const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  if (!sample) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`)
  return Number(sample.value)
}

describe('Prometheus exposition (pure)', () => {
  it('escapes help and label values and formats special values as 0.0.4 says', () => {
    const text = renderExposition([
      { name: 'a_total', type: 'counter', help: 'back\\slash and\nnewline', samples: [{ labels: { path: 'C:\\x', msg: 'say "hi"\nbye' }, value: 3 }] },
      { name: 'b', type: 'gauge', help: 'specials', samples: [{ value: NaN }, { labels: { k: 'p' }, value: Infinity }, { labels: { k: 'n' }, value: -Infinity }] },
    ])
    expect(text).toBe(
      [
        '# HELP a_total back\\\\slash and\\nnewline',
        '# TYPE a_total counter',
        'a_total{path="C:\\\\x",msg="say \\"hi\\"\\nbye"} 3',
        '# HELP b specials',
        '# TYPE b gauge',
        'b NaN',
        'b{k="p"} +Inf',
        'b{k="n"} -Inf',
        '',
      ].join('\n'),
    )
    const parsed = byName(parsePrometheusTextFormat(text))
    expect(parsed.get('a_total')!.metrics[0].labels).toEqual({ path: 'C:\\x', msg: 'say "hi"\nbye' })
  })

  it('writes histograms with cumulative buckets up to +Inf, then _sum and _count', () => {
    const samples = histogramSamples({ buckets: [0.1, 1], counts: [2, 1, 4], sum: 12.5, count: 7 }, { kind: 'eval' })
    const text = renderExposition([{ name: 'h_seconds', type: 'histogram', help: 'h', samples }])
    expect(text).toContain('h_seconds_bucket{kind="eval",le="0.1"} 2\nh_seconds_bucket{kind="eval",le="1"} 3\nh_seconds_bucket{kind="eval",le="+Inf"} 7\nh_seconds_sum{kind="eval"} 12.5\nh_seconds_count{kind="eval"} 7\n')
    const [h] = parsePrometheusTextFormat(oneHistogramSeries(text, 'h_seconds', 'kind="eval"'))
    expect(h.type).toBe('HISTOGRAM')
    expect(h.metrics[0]).toMatchObject({ buckets: { '0.1': '2', '1': '3', '+Inf': '7' }, sum: '12.5', count: '7' })
  })

  it('refuses names the format cannot carry, and a family listed twice', () => {
    expect(() => renderExposition([{ name: 'bad-name', type: 'gauge', help: '', samples: [] }])).toThrow(/invalid metric name/)
    expect(() => renderExposition([{ name: 'ok', type: 'gauge', help: '', samples: [{ labels: { 'bad-label': 1 }, value: 1 }] }])).toThrow(/invalid label name/)
    expect(() => renderExposition([{ name: 'x', type: 'gauge', help: '', samples: [] }, { name: 'x', type: 'gauge', help: '', samples: [] }])).toThrow(/listed twice/)
  })

  it('the recorder counts requests by kind into latency buckets and errors by code', async () => {
    let now = 0
    const r = new MetricsRecorder([0.01, 0.1], () => now)
    r.request('eval', 0.005)
    r.request('eval', 0.05, 'TIMEOUT')
    r.request('custom', 5)
    await expect(
      r.track('fetch', async () => {
        now += 40
        throw Object.assign(new Error('x'), { code: 'INSTANCE_DIED' })
      }),
    ).rejects.toThrow('x')
    const c = r.counters()
    expect(c.requests.eval).toEqual({ total: 2, errors: { TIMEOUT: 1 }, latency: { buckets: [0.01, 0.1], counts: [1, 1, 0], sum: 0.055, count: 2 } })
    expect(c.requests.custom.latency.counts).toEqual([0, 0, 1])
    expect(c.requests.fetch).toMatchObject({ total: 1, errors: { INSTANCE_DIED: 1 }, latency: { counts: [0, 1, 0], count: 1 } })
    expect(c.requests.send.total).toBe(0) // default kinds exist at zero
    expect(() => new MetricsRecorder([1, 0.5])).toThrow(/ascending/)
  })

  it('track hands back what the call settles with, and a call that throws at once is a rejection, counted', async () => {
    let now = 0
    const r = new MetricsRecorder([0.01, 0.1], () => now)
    await expect(r.track('eval', () => ((now += 5), Promise.resolve([1, 2])))).resolves.toEqual([1, 2])
    const thrown = r.track('request', () => {
      throw Object.assign(new TypeError('bad option'), { code: 'BAD' })
    })
    expect(thrown).toBeInstanceOf(Promise)
    await expect(thrown).rejects.toThrow('bad option')
    await expect(r.track('request', () => Promise.reject(new Error('no code')))).rejects.toThrow('no code')
    const c = r.counters()
    expect(c.requests.eval).toMatchObject({ total: 1, errors: {}, latency: { counts: [1, 0, 0], count: 1 } })
    expect(c.requests.request).toMatchObject({ total: 2, errors: { BAD: 1, ERROR: 1 } })
  })
})

describe('metrics of a manager', () => {
  it('has every required metric, named discordoo_*, with the values of status() and the counters', () => {
    const source = fakeSource()
    source.allReady = false
    const status = source.status()
    const text = renderExposition(collectFamilies(status, source.counters()))
    const parsed = byName(parsePrometheusTextFormat(text))
    for (const [what, name] of Object.entries(REQUIRED)) {
      expect(parsed.has(name), `${what}: ${name}`).toBe(true)
      expect(parsed.get(name)!.metrics.length, `${name} has samples`).toBeGreaterThan(0)
    }
    for (const name of parsed.keys()) expect(name).toMatch(/^discordoo_/)

    // Shards and instances by state, counted from status().
    expect(value(parsed, 'discordoo_shards', { state: 'ready' })).toBe(7)
    expect(value(parsed, 'discordoo_shards', { state: 'identifying' })).toBe(1)
    expect(value(parsed, 'discordoo_shards', { state: 'disconnected' })).toBe(0)
    expect(value(parsed, 'discordoo_instances', { state: 'ready' })).toBe(3)
    expect(value(parsed, 'discordoo_instances', { state: 'starting' })).toBe(1)
    expect(value(parsed, 'discordoo_instances', { state: 'gaveUp' })).toBe(0)
    for (const i of status.machines.flatMap((m) => m.instances)) {
      expect(value(parsed, 'discordoo_instance_restarts_total', { machine: i.machine, instance: String(i.id) })).toBe(i.restarts)
      expect(value(parsed, 'discordoo_instance_memory_rss_bytes', { instance: String(i.id) })).toBe(i.memory!.rss)
    }
    expect(value(parsed, 'discordoo_identify_grants_total')).toBe(status.identify!.granted)
    expect(value(parsed, 'discordoo_identify_sends_confirmed_total')).toBe(6)
    expect(value(parsed, 'discordoo_identify_queue_length')).toBe(status.identify!.waiting)
    expect(value(parsed, 'discordoo_identify_budget_remaining')).toBe(status.identify!.budget!.remaining)
    expect(value(parsed, 'discordoo_total_shards')).toBe(8)
    expect(value(parsed, 'discordoo_ready')).toBe(0)
    expect(value(parsed, 'discordoo_guilds')).toBe(80)
    expect(value(parsed, 'discordoo_shard_gateway_ping_seconds', { shard: '5' })).toBeCloseTo(0.025)
    for (const m of status.machines) {
      expect(value(parsed, 'discordoo_machine_link_up', { machine: m.id })).toBe(1)
      expect(value(parsed, 'discordoo_machine_link_rtt_seconds', { machine: m.id })).toBeCloseTo(m.link!.rttMs! / 1000)
      expect(value(parsed, 'discordoo_machine_link_queued_messages', { machine: m.id })).toBe(m.link!.queued)
    }
    expect(value(parsed, 'discordoo_machines', { state: 'up' })).toBe(1)

    // From the counters.
    expect(value(parsed, 'discordoo_requests_total', { kind: 'eval' })).toBe(3)
    expect(value(parsed, 'discordoo_requests_total', { kind: 'respawn' })).toBe(1)
    expect(value(parsed, 'discordoo_request_errors_total', { kind: 'eval', code: 'TIMEOUT' })).toBe(1)
    expect(value(parsed, 'discordoo_request_errors_total', { kind: 'request', code: 'REMOTE_ERROR' })).toBe(1)
    expect(parsed.get('discordoo_request_duration_seconds')!.type).toBe('HISTOGRAM')
    const [latency] = parsePrometheusTextFormat(oneHistogramSeries(text, 'discordoo_request_duration_seconds', 'kind="eval"'))
    const evalLatency = latency.metrics[0]
    expect(evalLatency).toMatchObject({ count: '3', buckets: { '0.005': '1', '0.025': '2', '30': '2', '+Inf': '3' } })
    expect(Number(evalLatency.sum)).toBeCloseTo(31.024)
    expect(value(parsed, 'discordoo_restarts_total', { cause: 'crash' })).toBe(2)
    expect(value(parsed, 'discordoo_machine_link_drops_total', { machine: '[fe80::1]:8379' })).toBe(1)
    expect(value(parsed, 'discordoo_reshards_total')).toBe(1)
    expect(value(parsed, 'discordoo_failovers_total')).toBe(2)
  })

  it('still exports every family (at zero) from a source with no counters yet', () => {
    const parsed = byName(parsePrometheusTextFormat(renderExposition(collectFamilies(fakeStatus(), {}))))
    expect(value(parsed, 'discordoo_requests_total', { kind: 'send' })).toBe(0)
    expect(value(parsed, 'discordoo_failovers_total')).toBe(0)
  })

  it('/healthz is healthy only when every shard is ready and every machine reported', () => {
    expect(health(fakeStatus(false))).toEqual({ ok: false, text: 'not ready: waiting for [fe80::1]:8379 (up); 7/8 shards ready so far' })
    expect(health(fakeStatus(true))).toEqual({ ok: true, text: 'ok: 8/8 shards ready' })
    const linkDown = fakeStatus(true)
    linkDown.machines[1].link!.up = false
    expect(health(linkDown)).toEqual({ ok: false, text: 'not ready: link down to [fe80::1]:8379; 8/8 shards ready when last heard' })
    const local = { ...fakeStatus(true), role: 'local' as const, machines: [{ ...fakeStatus(true).machines[0], link: undefined }] }
    local.machines[0].instances[1].shardStates[0].state = 'reconnecting'
    expect(health(local)).toEqual({ ok: false, text: 'not ready: 3/4 shards ready' })
    expect(health({ ...local, machines: [] })).toEqual({ ok: false, text: 'not ready: no shards yet' })
  })

  it('routes: 404 for other paths, 405 for other methods, 500 when status() throws', () => {
    const source = fakeSource()
    expect(respond(source, 'GET', '/').status).toBe(404)
    expect(respond(source, 'POST', '/metrics').status).toBe(405)
    const broken = { status: () => { throw new Error('backend gone\nstack') }, counters: () => ({}) }
    expect(respond(broken, 'GET', '/metrics')).toMatchObject({ status: 500, body: "cannot read the manager's status: backend gone\n" })
  })
})

describe('metrics server (HTTP on loopback)', () => {
  it('serves /metrics, /healthz (503 → 200 at all-ready) and /status', async () => {
    const source = fakeSource()
    const server = await createMetricsServer(source, { port: 0 })
    servers.push(server)
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`)

    const metrics = await fetch(`${server.url}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const parsed = byName(parsePrometheusTextFormat(await metrics.text()))
    for (const name of Object.values(REQUIRED)) expect(parsed.has(name), name).toBe(true)

    const notYet = await fetch(`${server.url}/healthz`)
    expect(notYet.status).toBe(503)
    expect(await notYet.text()).toBe('not ready: waiting for [fe80::1]:8379 (up); 7/8 shards ready so far\n')
    source.allReady = true
    const ready = await fetch(`${server.url}/healthz`)
    expect(ready.status).toBe(200)
    expect(await ready.text()).toBe('ok: 8/8 shards ready\n')

    const status = await fetch(`${server.url}/status`)
    expect(status.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await status.json()).toEqual(JSON.parse(JSON.stringify(source.status())))
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
  })

  it('a port in use is one error naming it', async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
    const port = (blocker.address() as { port: number }).port
    try {
      await expect(createMetricsServer(fakeSource(), { port })).rejects.toMatchObject({ code: 'METRICS_LISTEN', message: `metrics: 127.0.0.1:${port} is already in use; choose another metrics.port / metrics.host` })
    } finally {
      blocker.close()
    }
  })
})

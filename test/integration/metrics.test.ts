// Metrics and health of a real manager (issue 11): scraped, parsed, matched against status().
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterEach, describe, expect, it } from 'vitest'
import { makeManager, nextEvent, stopAll } from '../helpers/manager.js'

afterEach(stopAll)

const NAMES = [
  'discordoo_shards',
  'discordoo_instances',
  'discordoo_instance_restarts_total',
  'discordoo_restarts_total',
  'discordoo_identify_grants_total',
  'discordoo_identify_queue_length',
  'discordoo_identify_budget_remaining',
  'discordoo_requests_total',
  'discordoo_request_errors_total',
  'discordoo_request_duration_seconds',
  'discordoo_reshards_total',
  'discordoo_failovers_total',
]

type Family = { name: string; metrics: { value?: string; labels?: Record<string, string>; buckets?: unknown }[] }

async function scrape(url: string): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`)
  expect(res.status).toBe(200)
  const families = parsePrometheusTextFormat(await res.text()) as Family[]
  return new Map(families.map((f) => [f.name, f]))
}

const value = (f: Family | undefined, labels: Record<string, string>): number =>
  Number(f?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? NaN)

describe('metrics: { port } on a manager', () => {
  it('/healthz is 503 until every shard is ready, then 200; /metrics matches status()', async () => {
    const manager = makeManager({
      mode: 'processes',
      shards: 4,
      shardsPerInstance: 2,
      metrics: { port: 0 },
      identify: { windowMs: 100, marginMs: 0, maxConcurrency: 2, strategy: 'sequential', budget: { total: 1000, remaining: 900, resetAfter: 3_600_000 } },
      env: { FIXTURE_READY_DELAY: '300' },
    })
    const listening = nextEvent<{ url: string }>(manager, 'metricsListening')
    const started = manager.start()
    const { url } = await listening
    await nextEvent(manager, 'instanceSpawn')
    const during = await fetch(`${url}/healthz`)
    expect(during.status).toBe(503)
    await started
    expect((await fetch(`${url}/healthz`)).status).toBe(200)

    await manager.broadcastEval((c) => c.instanceId)
    await manager.broadcastEval(() => 1, { instance: 0 })
    await manager.fetchClientValues('instanceId')
    await manager.broadcastEval(() => new Promise(() => {}), { instance: 1, timeout: 50 }).catch(() => {})
    await manager.respawn(1)

    const m = await scrape(url)
    for (const name of NAMES) expect(m.has(name), name).toBe(true)
    const status = manager.status()
    expect(value(m.get('discordoo_shards'), { state: 'ready' })).toBe(4)
    expect(value(m.get('discordoo_instances'), { state: 'ready' })).toBe(2)
    expect(value(m.get('discordoo_identify_grants_total'), {})).toBe(status.identify!.granted)
    expect(value(m.get('discordoo_identify_budget_remaining'), {})).toBe(status.identify!.budget!.remaining)
    expect(value(m.get('discordoo_requests_total'), { kind: 'eval' })).toBe(3)
    expect(value(m.get('discordoo_requests_total'), { kind: 'fetch' })).toBe(1)
    expect(value(m.get('discordoo_requests_total'), { kind: 'respawn' })).toBe(1)
    expect(value(m.get('discordoo_request_errors_total'), { kind: 'eval', code: 'TIMEOUT' })).toBe(1)
    expect(value(m.get('discordoo_restarts_total'), { cause: 'respawn' })).toBe(1)
    expect(manager.metrics().requests.eval.total).toBe(3)

    const res = await fetch(`${url}/status`)
    expect(((await res.json()) as any).machines[0].instances).toHaveLength(2)
  })
})

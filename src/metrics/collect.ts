/**
 * The metric families of one scrape, from `status()` (what is true now) and the counters (what
 * happened since start). Pure. Values that status() carries are read from it, so the two never
 * disagree; the counters add only what status() lacks.
 */
import type { ManagerStatus } from '../manager/backend.js'
import type { InstanceInfo } from '../manager/instance.js'
import { emptyCounters, type MetricCounters } from './counters.js'
import { histogramSamples, type MetricFamily, type Sample } from './exposition.js'

/** Every state an instance can be in, exported even at zero. */
export const INSTANCE_STATES = ['idle', 'queued', 'starting', 'ready', 'stopping', 'backoff', 'stopped', 'gaveUp', 'fatal'] as const
/**
 * Shard states always exported; others (discord.js's `identifying`, `waitingForGuilds`, ...) appear when
 * seen, and `unknown` for a shard its instance has not reported.
 */
export const SHARD_STATES = ['starting', 'ready', 'resumed', 'disconnected', 'reconnecting', 'stopped'] as const

function instancesOf(status: ManagerStatus): InstanceInfo[] {
  return status.machines.flatMap((m) => m.instances)
}

function family(name: string, type: MetricFamily['type'], help: string, samples: Sample[]): MetricFamily {
  return { name, type, help, samples }
}

function countBy(keys: Iterable<string>, always: readonly string[]): Sample[] {
  const counts = new Map<string, number>(always.map((k) => [k, 0]))
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1)
  return [...counts].map(([state, value]) => ({ labels: { state }, value }))
}

/** Each assigned shard's state; a shard its instance has not reported yet is `unknown`. */
function shardStates(instances: InstanceInfo[]): string[] {
  return instances.flatMap((i) => {
    const byId = new Map(i.shardStates.map((s) => [s.id, s.state]))
    return i.shards.map((id) => byId.get(id) ?? 'unknown')
  })
}

export function collectFamilies(status: ManagerStatus, counters: Partial<MetricCounters> = {}): MetricFamily[] {
  const empty = emptyCounters()
  const c = { ...empty, ...counters, requests: { ...empty.requests, ...counters.requests } }
  const instances = instancesOf(status)
  const inst = (i: InstanceInfo) => ({ machine: i.machine, instance: i.id })
  const id = status.identify
  const families: MetricFamily[] = [
    family('discordoo_info', 'gauge', 'Always 1; the labels say the mode and the role of this manager.', [{ labels: { mode: status.mode, role: status.role }, value: 1 }]),
    family('discordoo_ready', 'gauge', '1 when every shard of the bot is ready, else 0.', [{ value: status.ready ? 1 : 0 }]),
    family('discordoo_total_shards', 'gauge', "The bot's total shard count (0 until known).", [{ value: status.totalShards ?? 0 }]),
    family('discordoo_shards', 'gauge', 'Shards by state.', countBy(shardStates(instances), SHARD_STATES)),
    family('discordoo_instances', 'gauge', 'Instances (processes or worker threads) by state.', countBy(instances.map((i) => i.state), INSTANCE_STATES)),
    family('discordoo_instance_restarts_total', 'counter', 'Restarts of each instance.', instances.map((i) => ({ labels: inst(i), value: i.restarts }))),
    family('discordoo_restarts_total', 'counter', 'Instance restarts by cause.', Object.entries(c.restarts).map(([cause, value]) => ({ labels: { cause }, value }))),
    family(
      'discordoo_instance_memory_rss_bytes',
      'gauge',
      'Resident memory of each instance (in WORKERS mode, the whole process).',
      instances.flatMap((i) => (i.memory ? [{ labels: inst(i), value: i.memory.rss }] : [])),
    ),
    family('discordoo_instance_heap_used_bytes', 'gauge', 'V8 heap used by each instance.', instances.flatMap((i) => (i.memory ? [{ labels: inst(i), value: i.memory.heapUsed }] : []))),
    family(
      'discordoo_shard_gateway_ping_seconds',
      'gauge',
      "Each shard's last gateway heartbeat round trip.",
      instances.flatMap((i) => i.shardStates.flatMap((s) => (typeof s.ping === 'number' && s.ping >= 0 ? [{ labels: { ...inst(i), shard: s.id }, value: s.ping / 1000 }] : []))),
    ),
    family(
      'discordoo_guilds',
      'gauge',
      'Guilds the shards report.',
      [{ value: instances.reduce((a, i) => a + i.shardStates.reduce((b, s) => b + (typeof s.guilds === 'number' ? s.guilds : 0), 0), 0) }],
    ),
    family('discordoo_identify_grants_total', 'counter', 'IDENTIFY turns granted by the identify authority (root manager only).', id ? [{ value: id.granted }] : []),
    family('discordoo_identify_sends_confirmed_total', 'counter', 'IDENTIFYs the shards reported sent (the next turn of their key may come sooner; root manager only).', id ? [{ value: id.sendsConfirmed ?? 0 }] : []),
    family('discordoo_identify_queue_length', 'gauge', 'Shards waiting for an IDENTIFY turn.', id ? [{ value: id.waiting }] : []),
    family('discordoo_identify_max_concurrency', 'gauge', "Discord's max_concurrency: identify keys served in parallel.", id ? [{ value: id.maxConcurrency }] : []),
    family('discordoo_identify_budget_remaining', 'gauge', 'Session starts left in the daily budget.', id?.budget ? [{ value: id.budget.remaining }] : []),
    family('discordoo_identify_budget_total', 'gauge', 'Session starts in the daily budget.', id?.budget ? [{ value: id.budget.total }] : []),
    family('discordoo_identify_budget_reset_timestamp_seconds', 'gauge', 'When the daily budget is restored (Unix time).', id?.budget ? [{ value: id.budget.resetAt / 1000 }] : []),
    family(
      'discordoo_requests_total',
      'counter',
      'Calls finished, by kind (eval = broadcastEval, fetch = fetchClientValues, request, send, respawn).',
      Object.entries(c.requests).map(([kind, r]) => ({ labels: { kind }, value: r.total })),
    ),
    family(
      'discordoo_request_errors_total',
      'counter',
      'Calls that failed, by kind and error code.',
      Object.entries(c.requests).flatMap(([kind, r]) => Object.entries(r.errors).map(([code, value]) => ({ labels: { kind, code }, value }))),
    ),
    family('discordoo_request_duration_seconds', 'histogram', 'Time from a call to its settlement, by kind.', Object.entries(c.requests).flatMap(([kind, r]) => histogramSamples(r.latency, { kind }))),
    family('discordoo_machines', 'gauge', 'Machines by state (MACHINES parent; the local machine otherwise).', countBy(status.machines.map((m) => m.state), [])),
    family('discordoo_machine_link_up', 'gauge', '1 when the link to the machine is up (MACHINES parent).', links(status, (l) => (l.up ? 1 : 0))),
    family('discordoo_machine_link_rtt_seconds', 'gauge', 'Last round trip on the link to the machine.', links(status, (l) => (l.rttMs === null ? null : l.rttMs / 1000))),
    family('discordoo_machine_link_udp', 'gauge', '1 when the link carries messages over encrypted UDP.', links(status, (l) => (l.udp ? 1 : 0))),
    family('discordoo_machine_link_resumes_total', 'counter', 'Link sessions resumed after a drop.', links(status, (l) => l.resumes)),
    family('discordoo_machine_link_queued_messages', 'gauge', 'Messages on the link awaiting acknowledgement.', links(status, (l) => l.queued)),
    family('discordoo_machine_link_drops_total', 'counter', 'Times the link to the machine went down.', Object.entries(c.linkDrops).map(([machine, value]) => ({ labels: { machine }, value }))),
    family('discordoo_reshards_total', 'counter', 'Re-shards completed.', [{ value: c.reshards }]),
    family('discordoo_failovers_total', 'counter', "Shard ranges moved off a lost machine.", [{ value: c.failovers }]),
  ]
  return families
}

type Link = NonNullable<ManagerStatus['machines'][number]['link']>

function links(status: ManagerStatus, value: (l: Link) => number | null): Sample[] {
  return status.machines.flatMap((m) => {
    if (!m.link) return []
    const v = value(m.link)
    return v === null ? [] : [{ labels: { machine: m.id }, value: v }]
  })
}

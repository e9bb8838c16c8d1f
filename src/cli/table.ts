/**
 * Renders `manager.status()` as a text table for the demo (pure: status in, lines out, no colours,
 * no terminal codes), plus a one-line summary for logs that are not a terminal.
 */
import type { ManagerStatus } from '../manager/backend.js'
import type { InstanceInfo } from '../manager/instance.js'
import { formatBytes, formatMs, formatShards, formatUptime } from './format.js'

const UP = new Set(['ready', 'resumed'])

interface Column {
  title: string
  align: 'left' | 'right'
}

const COLUMNS: Column[] = [
  { title: 'instance', align: 'right' },
  { title: 'shards', align: 'left' },
  { title: 'state', align: 'left' },
  { title: 'pid/thread', align: 'left' },
  { title: 'up', align: 'right' },
  { title: 'ready', align: 'right' },
  { title: 'shard states', align: 'left' },
  { title: 'ping', align: 'right' },
  { title: 'guilds', align: 'right' },
  { title: 'rss', align: 'right' },
  { title: 'heap', align: 'right' },
  { title: 'restarts', align: 'right' },
]

function allInstances(status: ManagerStatus): InstanceInfo[] {
  return status.machines.flatMap((m) => m.instances)
}

/** `4 ready` or `2 ready, 1 identifying, 1 starting` (most common first). */
export function summarizeShardStates(states: readonly string[]): string {
  if (states.length === 0) return '—'
  const counts = new Map<string, number>()
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1)
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([s, n]) => `${n} ${s}`)
    .join(', ')
}

function average(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length
}

function pingText(values: number[]): string {
  const avg = average(values)
  return avg === null ? '—' : formatMs(avg)
}

function instanceRow(i: InstanceInfo, sharedRss: boolean): string[] {
  const shardStates = i.shardStates.map((s) => s.state)
  const pings = i.shardStates.flatMap((s) => (typeof s.ping === 'number' && s.ping >= 0 ? [s.ping] : []))
  const guildCounts = i.shardStates.flatMap((s) => (typeof s.guilds === 'number' ? [s.guilds] : []))
  const where = i.threadId !== null && i.threadId !== undefined ? `thread ${i.threadId}` : i.pid !== null ? `pid ${i.pid}` : '—'
  return [
    String(i.id),
    formatShards(i.shards),
    i.state,
    where,
    formatUptime(i.uptime),
    `${shardStates.filter((s) => UP.has(s)).length}/${i.shards.length}`,
    summarizeShardStates(shardStates),
    pingText(pings),
    guildCounts.length === 0 ? '—' : String(guildCounts.reduce((a, b) => a + b, 0)),
    sharedRss ? '(process)' : formatBytes(i.memory?.rss),
    formatBytes(i.memory?.heapUsed),
    String(i.restarts),
  ]
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  return align === 'right' ? text.padStart(width) : text.padEnd(width)
}

/** Totals over every instance; numbers a caller may want to print or assert on. */
export function statusTotals(status: ManagerStatus): {
  instances: number
  instancesReady: number
  shards: number
  shardsReady: number
  guilds: number | null
  avgPing: number | null
  rss: number | null
  heapUsed: number | null
  restarts: number
} {
  const instances = allInstances(status)
  const shardStates = instances.flatMap((i) => i.shardStates)
  const guilds = shardStates.flatMap((s) => (typeof s.guilds === 'number' ? [s.guilds] : []))
  const pings = shardStates.flatMap((s) => (typeof s.ping === 'number' && s.ping >= 0 ? [s.ping] : []))
  const withMemory = instances.filter((i) => i.memory)
  // Worker threads share one process: its rss is reported by every worker, so count it once.
  const rss = withMemory.length === 0 ? null : status.mode === 'workers' ? Math.max(...withMemory.map((i) => i.memory!.rss)) : withMemory.reduce((a, i) => a + i.memory!.rss, 0)
  return {
    instances: instances.length,
    instancesReady: instances.filter((i) => i.state === 'ready').length,
    shards: instances.reduce((a, i) => a + i.shards.length, 0),
    shardsReady: shardStates.filter((s) => UP.has(s.state)).length,
    guilds: guilds.length === 0 ? null : guilds.reduce((a, b) => a + b, 0),
    avgPing: average(pings),
    rss,
    heapUsed: withMemory.length === 0 ? null : withMemory.reduce((a, i) => a + i.memory!.heapUsed, 0),
    restarts: instances.reduce((a, i) => a + i.restarts, 0),
  }
}

/** The header lines: mode and readiness, then the identify queue. */
export function renderStatusHeader(status: ManagerStatus): string[] {
  const t = statusTotals(status)
  const lines = [`${status.mode} · ${t.shardsReady}/${t.shards} shards ready · ${t.instancesReady}/${t.instances} instances ready`]
  const id = status.identify
  if (id) {
    const parts = [
      `identify: ${id.granted} granted, ${id.waiting} waiting`,
      `max_concurrency ${id.maxConcurrency}`,
      `one per key every ${formatMs(id.spacingMs)}`,
      `start ${id.strategy}`,
    ]
    if (id.budget) parts.push(`budget ${id.budget.remaining}/${id.budget.total}`)
    lines.push(parts.join(' · '))
  }
  return lines
}

/**
 * The status table: header lines, one row per instance and a totals row. In WORKERS mode every
 * worker reports the same process-wide rss, so rows show `(process)` and the total shows it once.
 */
export function renderStatusTable(status: ManagerStatus): string[] {
  const instances = allInstances(status)
  const sharedRss = status.mode === 'workers'
  const rows = instances.map((i) => instanceRow(i, sharedRss))
  const t = statusTotals(status)
  const total = [
    'total',
    '',
    `${t.instancesReady}/${t.instances} ready`,
    '',
    '',
    `${t.shardsReady}/${t.shards}`,
    summarizeShardStates(instances.flatMap((i) => i.shardStates.map((s) => s.state))),
    t.avgPing === null ? '—' : formatMs(t.avgPing),
    t.guilds === null ? '—' : String(t.guilds),
    formatBytes(t.rss),
    formatBytes(t.heapUsed),
    String(t.restarts),
  ]
  const widths = COLUMNS.map((c, k) => Math.max(c.title.length, ...rows.map((r) => r[k].length), total[k].length))
  const line = (cells: string[]) => cells.map((cell, k) => pad(cell, widths[k], COLUMNS[k].align)).join('  ').trimEnd()
  const rule = widths.map((w) => '─'.repeat(w)).join('  ')
  return [...renderStatusHeader(status), line(COLUMNS.map((c) => c.title)), rule, ...rows.map(line), rule, line(total)]
}

/** One line for logs that are not a terminal: `16/16 shards ready · 4/4 instances · 400 guilds · ping 3 ms · rss 340.1 MiB`. */
export function renderSummaryLine(status: ManagerStatus): string {
  const t = statusTotals(status)
  return [
    `${t.shardsReady}/${t.shards} shards ready`,
    `${t.instancesReady}/${t.instances} instances ready`,
    `${t.guilds ?? 0} guilds`,
    `ping ${t.avgPing === null ? '—' : formatMs(t.avgPing)}`,
    `rss ${formatBytes(t.rss)}`,
    `heap ${formatBytes(t.heapUsed)}`,
    `restarts ${t.restarts}`,
  ].join(' · ')
}

/**
 * One line per machine that has a link (a MACHINES parent's children):
 * `machine 10.0.18.1:8379 · ready · link up · rtt 1.50 ms · TLS · 0 queued · 1 resume · 2 instances`.
 */
export function renderMachineLines(status: ManagerStatus): string[] {
  return status.machines.flatMap((m) => {
    if (!m.link) return []
    const l = m.link
    return [
      [
        `machine ${m.id}`,
        m.state,
        `link ${l.up ? 'up' : 'down'}`,
        `rtt ${l.rttMs === null ? '—' : `${l.rttMs.toFixed(2)} ms`}`,
        l.udp ? 'UDP' : 'TLS',
        `${l.queued} queued`,
        `${l.resumes} resume${l.resumes === 1 ? '' : 's'}`,
        `${m.instances.length} instance${m.instances.length === 1 ? '' : 's'}`,
      ].join(' · '),
    ]
  })
}

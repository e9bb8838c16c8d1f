import { describe, expect, it } from 'vitest'
import type { ManagerStatus } from '../../src/manager/backend.js'
import { describeReadyTime, formatBytes, formatMs, formatShards, formatUptime, identifyFloorMs, stamp } from '../../src/cli/format.js'
import { renderStatusTable, renderSummaryLine, statusTotals, summarizeShardStates } from '../../src/cli/table.js'

const MiB = 1024 * 1024

function status(mode: 'processes' | 'workers'): ManagerStatus {
  const inst = (id: number, shards: number[], extra: Record<string, unknown> = {}) => ({
    id,
    machine: 'local',
    shards,
    state: 'ready' as const,
    pid: mode === 'processes' ? 1000 + id : 999,
    threadId: mode === 'workers' ? id + 1 : null,
    restarts: 0,
    uptime: 12_345,
    lastHeartbeat: 1,
    memory: { rss: (mode === 'workers' ? 200 : 80) * MiB, heapUsed: 16 * MiB },
    shardStates: shards.map((s) => ({ id: s, state: 'ready', ping: 10 + s, guilds: 25 })),
    ...extra,
  })
  return {
    mode,
    role: 'local',
    totalShards: 8,
    ready: false,
    identify: { granted: 6, waiting: 2, maxConcurrency: 4, spacingMs: 5250, strategy: 'coordinated', budget: { total: 1000, remaining: 994, resetAt: 0 } as never },
    machines: [
      {
        id: 'local',
        state: 'up',
        instances: [
          inst(0, [0, 1, 2, 3]),
          inst(1, [4, 5, 6, 7], {
            state: 'starting',
            restarts: 2,
            memory: null,
            uptime: null,
            shardStates: [
              { id: 4, state: 'ready', guilds: 25 },
              { id: 5, state: 'ready', guilds: 25 },
              { id: 6, state: 'identifying' },
              { id: 7, state: 'starting' },
            ],
          }),
        ],
      },
    ],
  }
}

describe('formatters', () => {
  it('formats times, sizes and shard lists', () => {
    expect(formatMs(850)).toBe('850 ms')
    expect(formatMs(1234)).toBe('1.23 s')
    expect(formatMs(15_750)).toBe('15.8 s')
    expect(stamp(1234)).toBe('[+  1.23s]')
    expect(formatBytes(84.7 * MiB)).toBe('84.7 MiB')
    expect(formatBytes(null)).toBe('—')
    expect(formatUptime(5_000)).toBe('5s')
    expect(formatUptime(184_000)).toBe('3m04s')
    expect(formatUptime(null)).toBe('—')
    expect(formatShards([3, 0, 1, 2, 7, 9, 10])).toBe('0-3,7,9-10')
    expect(formatShards([5])).toBe('5')
  })

  it('computes the identify floor and compares the measured time with it', () => {
    expect(identifyFloorMs(16, 4, 5000)).toBe(15_000)
    expect(identifyFloorMs(4, 1, 5000)).toBe(15_000)
    expect(identifyFloorMs(4, 4, 5000)).toBe(0)
    expect(identifyFloorMs(17, 4, 5000)).toBe(20_000)
    expect(describeReadyTime(16_050, 16, 4, 5000)).toBe('16.1 s; physical floor (ceil(16/4)-1) × 5000 ms = 15.0 s; 1.07× the floor')
    expect(describeReadyTime(1100, 4, 4, 500)).toContain('= 0 ms (one identify round')
  })
})

describe('status table', () => {
  it('renders one aligned row per instance, a totals row and the identify queue', () => {
    const lines = renderStatusTable(status('processes'))
    expect(lines[0]).toBe('processes · 6/8 shards ready · 1/2 instances ready')
    expect(lines[1]).toBe('identify: 6 granted, 2 waiting · max_concurrency 4 · one per key every 5.25 s · start coordinated · budget 994/1000')
    const [header, , row0, row1, , total] = lines.slice(2)
    expect(header.split(/\s{2,}/)).toEqual(['instance', 'shards', 'state', 'pid/thread', 'up', 'ready', 'shard states', 'ping', 'guilds', 'rss', 'heap', 'restarts'])
    expect(row0.trim().split(/\s{2,}/)).toEqual(['0', '0-3', 'ready', 'pid 1000', '12s', '4/4', '4 ready', '12 ms', '100', '80.0 MiB', '16.0 MiB', '0'])
    expect(row1.trim().split(/\s{2,}/)).toEqual(['1', '4-7', 'starting', 'pid 1001', '—', '2/4', '2 ready, 1 identifying, 1 starting', '—', '50', '—', '—', '2'])
    expect(total.trim().split(/\s{2,}/)).toEqual(['total', '1/2 ready', '6/8', '6 ready, 1 identifying, 1 starting', '12 ms', '150', '80.0 MiB', '16.0 MiB', '2'])
    // every column starts at the same offset in every row
    const columnStart = (line: string, cell: string) => line.indexOf(cell)
    expect(columnStart(row0, 'pid 1000')).toBe(columnStart(header, 'pid/thread'))
    expect(columnStart(row1, 'pid 1001')).toBe(columnStart(header, 'pid/thread'))
    // right-aligned numeric columns end where their title ends
    expect(row0.indexOf(' 100 ') + 4).toBe(header.indexOf('guilds') + 'guilds'.length)
    expect(lines.every((l) => !l.includes('\x1b'))).toBe(true)
  })

  it('shows a worker process rss once, not once per worker', () => {
    const s = status('workers')
    const lines = renderStatusTable(s)
    expect(lines[4]).toContain('thread 1')
    expect(lines[4]).toContain('(process)')
    expect(lines.at(-1)).toContain('200.0 MiB')
    expect(statusTotals(s).rss).toBe(200 * MiB)
    expect(statusTotals(status('processes')).rss).toBe(80 * MiB)
  })

  it('summarises shard states and renders a one-line summary for logs', () => {
    expect(summarizeShardStates(['ready', 'starting', 'ready'])).toBe('2 ready, 1 starting')
    expect(summarizeShardStates([])).toBe('—')
    expect(renderSummaryLine(status('processes'))).toBe(
      '6/8 shards ready · 1/2 instances ready · 150 guilds · ping 12 ms · rss 80.0 MiB · heap 16.0 MiB · restarts 2',
    )
  })

  it('renders a manager that has no instances yet', () => {
    const empty: ManagerStatus = { mode: 'processes', role: 'local', totalShards: null, ready: false, identify: null, machines: [] }
    const lines = renderStatusTable(empty)
    expect(lines[0]).toBe('processes · 0/0 shards ready · 0/0 instances ready')
    expect(lines.at(-1)!.trim().split(/\s{2,}/)).toEqual(['total', '0/0 ready', '0/0', '—', '—', '—', '—', '—', '0'])
  })
})

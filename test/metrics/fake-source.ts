/** A MACHINES parent's status and counters, made up for the metrics and `discordoo status` tests. */
import type { ManagerStatus } from '../../src/manager/backend.js'
import type { InstanceInfo } from '../../src/manager/instance.js'
import { MetricsRecorder, type MetricsSource } from '../../src/metrics/index.js'

const MiB = 1024 * 1024

function instance(id: number, machine: string, shards: number[], states: string[], extra: Partial<InstanceInfo> = {}): InstanceInfo {
  return {
    id,
    machine,
    shards,
    state: 'ready',
    pid: 4000 + id,
    threadId: null,
    restarts: id,
    uptime: 61_000,
    lastHeartbeat: 1,
    memory: { rss: (60 + id) * MiB, heapUsed: (10 + id) * MiB },
    shardStates: shards.map((s, k) => ({ id: s, state: states[k] ?? 'ready', ping: 20 + s, guilds: 10 })),
    ...extra,
  }
}

/** 8 shards on two machines; `allReady: false` leaves shard 7 identifying and instance 3 starting. */
export function fakeStatus(allReady = true): ManagerStatus {
  return {
    mode: 'machines',
    role: 'parent',
    totalShards: 8,
    ready: allReady,
    identify: { granted: 8, sendsConfirmed: 6, waiting: allReady ? 0 : 1, maxConcurrency: 2, spacingMs: 5250, strategy: 'coordinated', budget: { total: 1000, remaining: 992, resetAt: 1_900_000_000_000 } },
    machines: [
      {
        id: '10.0.18.1:8379',
        host: '10.0.18.1',
        state: 'ready',
        link: { up: true, rttMs: 1.5, udp: false, resumes: 1, queued: 0 },
        instances: [instance(0, '10.0.18.1:8379', [0, 1], []), instance(1, '10.0.18.1:8379', [2, 3], [])],
      },
      {
        id: '[fe80::1]:8379',
        host: 'fe80::1',
        state: allReady ? 'ready' : 'up',
        link: { up: true, rttMs: 2.25, udp: true, resumes: 0, queued: 3 },
        instances: [
          instance(2, '[fe80::1]:8379', [4, 5], []),
          instance(3, '[fe80::1]:8379', [6, 7], allReady ? [] : ['ready', 'identifying'], allReady ? {} : { state: 'starting' }),
        ],
      },
    ],
  }
}

export function fakeRecorder(): MetricsRecorder {
  const r = new MetricsRecorder()
  r.request('eval', 0.004)
  r.request('eval', 0.02)
  r.request('eval', 31, 'TIMEOUT')
  r.request('fetch', 0.003)
  r.request('request', 0.5, 'REMOTE_ERROR')
  r.request('send', 0.0005)
  r.request('respawn', 2)
  r.restart('crash')
  r.restart('crash')
  r.restart('hang')
  r.linkDrop('[fe80::1]:8379')
  r.reshard()
  r.failover()
  r.failover()
  return r
}

/** A source whose readiness the test flips. */
export function fakeSource(): MetricsSource & { allReady: boolean } {
  const recorder = fakeRecorder()
  return {
    allReady: false,
    status() {
      return fakeStatus(this.allReady)
    },
    counters: () => recorder.counters(),
  }
}

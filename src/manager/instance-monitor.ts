/**
 * Watches one running instance: heartbeats (hang detection), start-up progress (a ready timeout
 * that restarts on every sign of progress, so big instances are not killed for being big), and the
 * per-shard view that status() shows.
 */
import { monotonicNow } from '../util/clock.js'
import type { ResolvedOptions } from './options.js'

export interface ShardView {
  id: number
  state: string
  ping?: number
  guilds?: number
  code?: number
}

interface MonitorCallbacks {
  ping(): void
  onHung(silentMs: number): void
  onNoProgress(ms: number): void
  shardEvent(name: string, shardId: number, extra?: unknown): void
  markReady(): void
}

const EVENT_OF_STATE: Record<string, string> = {
  ready: 'shardReady',
  disconnected: 'shardDisconnect',
  resumed: 'shardResume',
  reconnecting: 'shardReconnecting',
}

export class InstanceMonitor {
  private shardViews = new Map<number, ShardView>()
  private heartbeatTimer: NodeJS.Timeout | null = null
  private progressTimer: NodeJS.Timeout | null = null
  /** Monotonic times, for uptime and hang detection; `lastAck` is wall-clock, for display. */
  private spawnedAt: number | null = null
  private lastAck: number | null = null
  private lastAlive = 0
  private memory: { rss: number; heapUsed: number } | null = null
  private isReady = false

  constructor(
    private readonly instance: { id: number; shards: number[] },
    private readonly timeouts: ResolvedOptions['timeouts'],
    private readonly cb: MonitorCallbacks,
  ) {}

  started(shards: number[]): void {
    this.stopped()
    this.shardViews = new Map(shards.map((id) => [id, { id, state: 'starting' }]))
    this.spawnedAt = monotonicNow()
    this.lastAlive = this.spawnedAt
    this.lastAck = null
    this.memory = null
    this.isReady = false
    this.heartbeatTimer = setInterval(() => this.beat(), this.timeouts.heartbeatInterval)
    this.heartbeatTimer.unref()
    this.progress()
  }

  progress(): void {
    if (this.isReady || this.spawnedAt === null) return
    this.clearProgress()
    this.progressTimer = setTimeout(() => this.cb.onNoProgress(this.timeouts.ready), this.timeouts.ready)
    this.progressTimer.unref()
  }

  pauseProgress(): void {
    this.clearProgress()
  }

  ready(): void {
    this.isReady = true
    this.clearProgress()
  }

  stopped(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer)
    this.heartbeatTimer = null
    this.clearProgress()
    this.spawnedAt = null
    for (const view of this.shardViews.values()) view.state = 'stopped'
  }

  ack(d: { t: number; memory?: { rss: number; heapUsed: number }; shards?: ShardView[] }): void {
    this.lastAck = Date.now()
    this.lastAlive = monotonicNow()
    if (d.memory) this.memory = d.memory
    for (const s of d.shards ?? []) {
      const view = this.shardViews.get(s.id)
      if (!view) continue
      if (s.ping !== undefined) view.ping = s.ping
      if (s.guilds !== undefined) view.guilds = s.guilds
    }
  }

  /** A shard reported by id (ShardingClient / attach). */
  shardEvent(shardId: number, state: string, code?: number): void {
    const view = this.shardViews.get(shardId)
    if (!view) return
    view.state = state
    if (code !== undefined) view.code = code
    this.progress()
    const event = EVENT_OF_STATE[state]
    if (event) this.cb.shardEvent(event, shardId, code)
    if (state === 'ready' && [...this.shardViews.values()].every((v) => v.state === 'ready' || v.state === 'resumed')) this.cb.markReady()
  }

  /**
   * discord.js's ShardClientUtil reports without shard ids; we attribute each report to the first
   * shard whose state it can change, which matches the order shards usually become ready.
   */
  inferredShardEvent(state: 'ready' | 'disconnected' | 'reconnecting' | 'resumed'): void {
    const views = [...this.shardViews.values()]
    const isUp = (v: ShardView) => v.state === 'ready' || v.state === 'resumed'
    const view = state === 'disconnected' || state === 'reconnecting' ? views.find(isUp) : views.find((v) => !isUp(v))
    if (view) this.shardEvent(view.id, state)
  }

  snapshot(): { uptime: number | null; lastHeartbeat: number | null; memory: { rss: number; heapUsed: number } | null; shardStates: ShardView[] } {
    return {
      uptime: this.spawnedAt === null ? null : Math.round(monotonicNow() - this.spawnedAt),
      lastHeartbeat: this.lastAck,
      memory: this.memory,
      shardStates: [...this.shardViews.values()].map((v) => ({ ...v })),
    }
  }

  private beat(): void {
    const silent = Math.round(monotonicNow() - this.lastAlive)
    if (this.timeouts.heartbeat > 0 && silent > this.timeouts.heartbeat) {
      this.stopped()
      return this.cb.onHung(silent)
    }
    this.cb.ping()
  }

  private clearProgress(): void {
    if (this.progressTimer) clearTimeout(this.progressTimer)
    this.progressTimer = null
  }
}

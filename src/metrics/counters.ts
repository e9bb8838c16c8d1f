/**
 * What a manager counts as it runs, for the metrics that `status()` cannot show: requests by kind
 * with their errors and latency, restarts by cause, re-shards, failovers and link drops. Pure: the
 * manager calls the recorder; `counters()` returns a copy for the metrics endpoint.
 */
import type { HistogramSnapshot } from './exposition.js'

/** Request kinds always exported (zero until used), so dashboards never see a missing series. */
export const REQUEST_KINDS = ['eval', 'fetch', 'request', 'send', 'respawn'] as const
export type RequestKind = (typeof REQUEST_KINDS)[number] | (string & {})

/** Upper bounds of the request latency histogram, seconds (requests time out at 30 s by default). */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface RequestStats {
  /** Calls finished (successes and errors). */
  total: number
  /** Failed calls by error code (`TIMEOUT`, `INSTANCE_DIED`, `LINK_LOST`, `REMOTE_ERROR`, ...). */
  errors: Record<string, number>
  /** Seconds from the call to its settlement. */
  latency: HistogramSnapshot
}

export interface MetricCounters {
  requests: Record<RequestKind, RequestStats>
  /** Instance restarts by cause (`crash`, `hang`, `respawn`, `rolling`, ...), since the manager started. */
  restarts: Record<string, number>
  /** Times a machine link went down, by machine id (MACHINES parent). */
  linkDrops: Record<string, number>
  /** Re-shards completed (a new shard set took over from the old one). */
  reshards: number
  /** Shard ranges moved off a lost machine onto another. */
  failovers: number
}

function emptyHistogram(buckets: readonly number[]): HistogramSnapshot {
  return { buckets, counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 }
}

/** Zero counters with every default kind present. */
export function emptyCounters(buckets: readonly number[] = LATENCY_BUCKETS): MetricCounters {
  const requests = {} as Record<RequestKind, RequestStats>
  for (const kind of REQUEST_KINDS) requests[kind] = { total: 0, errors: {}, latency: emptyHistogram(buckets) }
  return { requests, restarts: {}, linkDrops: {}, reshards: 0, failovers: 0 }
}

/** Index of the bucket `seconds` falls in (the last index is +Inf). */
function bucketIndex(buckets: readonly number[], seconds: number): number {
  for (let i = 0; i < buckets.length; i++) if (seconds <= buckets[i]) return i
  return buckets.length
}

/**
 * Accumulates counters. The lead's manager calls `request()` when a call settles (or wraps the call
 * in `track()`), `restart()` when an instance respawns, and so on.
 */
export class MetricsRecorder {
  private readonly state: MetricCounters
  private readonly buckets: readonly number[]

  constructor(
    buckets: readonly number[] = LATENCY_BUCKETS,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (buckets.some((b, i) => !(b > 0) || (i > 0 && b <= buckets[i - 1]))) throw new RangeError('latency buckets must be positive and ascending')
    this.buckets = [...buckets]
    this.state = emptyCounters(this.buckets)
  }

  /** One finished call of `kind` that took `seconds`; `errorCode` when it failed. */
  request(kind: RequestKind, seconds: number, errorCode?: string | null): void {
    const stats = (this.state.requests[kind] ??= { total: 0, errors: {}, latency: emptyHistogram(this.buckets) })
    stats.total++
    if (errorCode) stats.errors[errorCode] = (stats.errors[errorCode] ?? 0) + 1
    const h = stats.latency as unknown as { counts: number[]; sum: number; count: number }
    const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 0
    h.counts[bucketIndex(this.buckets, s)]++
    h.sum += s
    h.count++
  }

  /** Runs `call` and records its kind, duration and outcome (the error's `code`, or `ERROR`). */
  async track<T>(kind: RequestKind, call: () => Promise<T>): Promise<T> {
    const t0 = this.start()
    try {
      const value = await call()
      this.finish(kind, t0)
      return value
    } catch (err) {
      this.fail(kind, t0, err)
      throw err
    }
  }

  /** When a call starts, for finish() / fail(): track() without its async wrapper, for the manager's hot path. */
  start(): number {
    return this.now()
  }

  /** Records a call that started at `t0` and succeeded. */
  finish(kind: RequestKind, t0: number): void {
    this.request(kind, (this.now() - t0) / 1000)
  }

  /** Records a call that started at `t0` and failed with `err` (its `code`, or `ERROR`). */
  fail(kind: RequestKind, t0: number, err: unknown): void {
    const code = (err as { code?: unknown })?.code
    this.request(kind, (this.now() - t0) / 1000, typeof code === 'string' && code.length > 0 ? code : 'ERROR')
  }

  restart(cause: string): void {
    this.state.restarts[cause] = (this.state.restarts[cause] ?? 0) + 1
  }

  linkDrop(machine: string): void {
    this.state.linkDrops[machine] = (this.state.linkDrops[machine] ?? 0) + 1
  }

  reshard(): void {
    this.state.reshards++
  }

  failover(): void {
    this.state.failovers++
  }

  /** A copy: later calls do not change what a scrape is rendering. */
  counters(): MetricCounters {
    return structuredClone(this.state)
  }
}

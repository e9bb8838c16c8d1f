/** Small pure formatters shared by the demo's progress lines and status table. */

/** `1234` → `1.23 s`, `850` → `850 ms`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—'
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
}

/** Elapsed time as a fixed-width progress stamp: `[+  1.23s]`. */
export function stamp(ms: number): string {
  return `[+${(ms / 1000).toFixed(2).padStart(6)}s]`
}

/** Bytes as MiB with one decimal (`84.7 MiB`), or `—` when unknown. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—'
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** Uptime as `12s`, `3m04s`, `1h02m`. */
export function formatUptime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—'
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

/** Shard ids as compact ranges: `[0,1,2,3,7]` → `0-3,7`. */
export function formatShards(ids: readonly number[]): string {
  const sorted = [...ids].sort((a, b) => a - b)
  const parts: string[] = []
  for (let i = 0; i < sorted.length; ) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`)
    i = j + 1
  }
  return parts.join(',')
}

/**
 * The physical floor of start-up: N shards at max_concurrency C need ceil(N/C) identify rounds,
 * one window apart, so the last round cannot start before `(ceil(N/C) - 1) × window`.
 */
export function identifyFloorMs(shards: number, maxConcurrency: number, windowMs: number): number {
  return (Math.ceil(shards / maxConcurrency) - 1) * windowMs
}

/** `16.1 s; floor (ceil(16/4)-1) × 5000 ms = 15.00 s; 1.07× the floor` */
export function describeReadyTime(measuredMs: number, shards: number, maxConcurrency: number, windowMs: number): string {
  const floor = identifyFloorMs(shards, maxConcurrency, windowMs)
  const formula = `(ceil(${shards}/${maxConcurrency})-1) × ${windowMs} ms`
  if (floor === 0) return `${formatMs(measuredMs)}; physical floor ${formula} = 0 ms (one identify round: every shard has its own key)`
  return `${formatMs(measuredMs)}; physical floor ${formula} = ${formatMs(floor)}; ${(measuredMs / floor).toFixed(2)}× the floor`
}

/**
 * Rate limit for reports a hostile peer can trigger at will (refused connections, dropped
 * messages, throwing listeners): at most `perSecond` reports per key each second, the rest only
 * counted and summed up once per `summaryMs`. ReportLimiter is the pure rule (the caller passes the
 * time); RefusalReporter (the listener's 'refused' events) and StderrReporter apply it with a timer.
 *
 * Memory stays bounded whatever the peer does: at most `maxKeys` keys are tracked, later ones
 * share one overflow key, and keys with nothing to report are forgotten at every summary.
 */
import { performance } from 'node:perf_hooks'
import type { RefusedEvent } from './client.js'
import { LinkRefusedError } from './errors.js'

export interface ReportLimits {
  perSecond: number
  summaryMs: number
  maxKeys?: number
}

export interface Suppressed<K> {
  /** The key's own value, or null for the overflow key (keys beyond maxKeys). */
  key: K | null
  count: number
}

interface Entry<K> {
  key: K | null
  second: number
  inSecond: number
  suppressed: number
}

const OVERFLOW = '\u0000overflow'

export class ReportLimiter<K> {
  private entries = new Map<string, Entry<K>>()
  private readonly maxKeys: number
  private prunedSecond = -1

  constructor(
    readonly limits: ReportLimits,
    private readonly id: (key: K) => string = (k) => String(k),
  ) {
    this.maxKeys = limits.maxKeys ?? 1024
  }

  /** True when this report may go out now; false when it was only counted. */
  admit(key: K, nowMs: number): boolean {
    const second = Math.floor(nowMs / 1000)
    let e = this.entries.get(this.id(key))
    if (!e) {
      if (this.entries.size >= this.maxKeys && this.prunedSecond !== second) this.prune(second)
      if (this.entries.size >= this.maxKeys) {
        e = this.entries.get(OVERFLOW) ?? { key: null, second: -1, inSecond: 0, suppressed: 0 }
        this.entries.set(OVERFLOW, e)
      } else {
        e = { key, second: -1, inSecond: 0, suppressed: 0 }
        this.entries.set(this.id(key), e)
      }
    }
    if (second !== e.second) {
      e.second = second
      e.inSecond = 0
    }
    if (e.inSecond < this.limits.perSecond) {
      e.inSecond++
      return true
    }
    e.suppressed++
    return false
  }

  /** Forgets keys with nothing suppressed and no report in this second (at most once a second). */
  private prune(second: number): void {
    this.prunedSecond = second
    for (const [id, e] of this.entries) if (e.suppressed === 0 && e.second !== second) this.entries.delete(id)
  }

  /** Whether anything was counted and not reported yet (a summary is due). */
  get pending(): boolean {
    for (const e of this.entries.values()) if (e.suppressed > 0) return true
    return false
  }

  /** What was suppressed since the last call, per key; forgets idle keys. */
  drain(): Suppressed<K>[] {
    const out: Suppressed<K>[] = []
    for (const [id, e] of this.entries) {
      if (e.suppressed > 0) out.push({ key: e.key, count: e.suppressed })
      this.entries.delete(id)
    }
    return out
  }
}

/**
 * The listener's 'refused' events, rate-limited per (address, code): a few go out at once, the
 * rest are summed up in one event per (address, code) every `summaryMs`.
 */
export class RefusalReporter {
  private readonly limiter: ReportLimiter<{ address: string; code: string }>
  private timer: NodeJS.Timeout | null = null

  constructor(
    limits: ReportLimits,
    private readonly emit: (e: RefusedEvent) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.limiter = new ReportLimiter(limits, (k) => `${k.address} ${k.code}`)
  }

  report(remoteAddress: string, code: string, reason: string, remote: boolean): void {
    if (this.limiter.admit({ address: remoteAddress, code }, this.now())) {
      return this.emit({ remoteAddress, code, reason, error: new LinkRefusedError(code, reason, remote) })
    }
    if (this.timer) return
    this.timer = setTimeout(() => this.flush(), this.limiter.limits.summaryMs)
    this.timer.unref()
  }

  /** Emits the summaries now (also on close, so nothing counted is lost). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const secs = Math.round(this.limiter.limits.summaryMs / 1000)
    for (const { key, count } of this.limiter.drain()) {
      const remoteAddress = key?.address ?? 'other addresses'
      const code = key?.code ?? 'REFUSED'
      const reason = `${count} more refused from ${remoteAddress} in the last ${secs} s (${code})`
      this.emit({ remoteAddress, code, reason, error: new LinkRefusedError(code, reason, false), suppressed: count })
    }
  }
}

/**
 * Prints link problems nobody listens for to stderr, rate-limited, so a peer that makes every
 * message fail cannot flood the log or the disk.
 */
export class StderrReporter {
  private readonly limiter: ReportLimiter<string>
  private timer: NodeJS.Timeout | null = null

  constructor(
    limits: ReportLimits = { perSecond: 3, summaryMs: 10_000 },
    private readonly write: (line: string) => void = (line) => void process.stderr.write(line + '\n'),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.limiter = new ReportLimiter(limits)
  }

  report(kind: string, text: string): void {
    if (this.limiter.admit(kind, this.now())) return this.write(`discordoo-sharding: ${text}`)
    if (this.timer) return
    this.timer = setTimeout(() => this.flush(), this.limiter.limits.summaryMs)
    this.timer.unref()
  }

  private flush(): void {
    this.timer = null
    const secs = Math.round(this.limiter.limits.summaryMs / 1000)
    for (const s of this.limiter.drain()) this.write(`discordoo-sharding: ${s.count} more ${s.key ?? 'link problems'} in the last ${secs} s`)
  }
}

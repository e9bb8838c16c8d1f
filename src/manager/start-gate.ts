/**
 * Decides when an instance may start, so bots that throttle identifies on their own (a discord.js
 * bot that is not adapted, other libraries) never collide with another instance.
 *
 * Discord's identify limit is per key (`shard % max_concurrency`): instances whose shards use
 * disjoint key sets never compete, so they may start together (one "wave").
 *
 * - `coordinated`: every shard asks the identify authority, so all instances start at once.
 * - `waves`: every waiting instance whose keys are free starts at once; a key is free again one
 *   window after its holder used it: after the authority granted the holder's last shard of that key,
 *   or, for a bot that never asks, after the holder became ready (all of an instance's IDENTIFYs
 *   precede its READYs) or died. Waiters are served in order per key, so none starves.
 * - `sequential`: one instance at a time; the next waits until the previous one is ready and a full
 *   window has passed.
 * - `auto`: start the first wave as a probe. If any instance asks the authority for an identify,
 *   the bot is coordinated and everything else starts, each instance a lead time before its shards'
 *   first turn can come (the next round once the whole probe wave has asked, later rounds a window
 *   apart): booting many discord.js instances at once on a few cores makes every one of them late, and
 *   the probe wave's first turns set the pace of every key. The lead is one window, or twice the time
 *   the probe took to ask if that is longer, plus half a window, so that spawning (which blocks the
 *   manager's event loop for a few milliseconds per process) falls between two rounds of turns, not
 *   on one. If an instance becomes ready without asking, the bot throttles itself and the gate
 *   continues in waves.
 *
 * Callers that do not say which shards an instance runs (`acquire` without shards) hold every key:
 * they start alone, as before waves existed.
 */
import { EventEmitter } from 'node:events'
import { AbortedError } from '../errors.js'
import { systemClock, type Clock } from '../util/clock.js'

export type StartStrategy = 'auto' | 'coordinated' | 'sequential' | 'waves'
type GateMode = 'probing' | 'coordinated' | 'sequential' | 'waves'

export const START_STRATEGIES: readonly StartStrategy[] = ['auto', 'coordinated', 'sequential', 'waves']

export interface StartSlot {
  readonly holder: string
  /** Granted by the gate (false in coordinated mode, where no release is needed). */
  readonly exclusive: boolean
  /** Granted in coordinated mode: the bot takes identify turns, so later starts need no slot to be safe. */
  readonly coordinated?: boolean
}

export interface StartGateOptions {
  /** A shard's identify key (`shard % max_concurrency`); by default every shard shares one key. */
  keyOf?: (shard: number) => number
  /**
   * Coordinated mode: how long the next round waits after the last probe asked (default 0). The
   * authority passes `marginMs - sentMarginMs`: that long, the last probe's send report can still bring
   * its key's next turn forward, and forking the next round blocks the loop that would take the report.
   */
  quietMs?: number
}

/** The identify keys an instance uses; ALL when its shards are unknown (or in sequential mode). */
const ALL = 'all' as const
type Keys = Set<number> | typeof ALL

interface Waiter {
  holder: string
  shards: readonly number[] | null
  /** Coordinated mode: when it may start (see noteCoordinatedIdentify). */
  notBefore?: number
  /** Coordinated mode: it also waits until the probe wave has asked (its turn comes after theirs). */
  afterProbes?: boolean
  resolve(slot: StartSlot): void
  reject(err: Error): void
  signal?: AbortSignal
  onAbort?: () => void
}

interface Held {
  keys: Keys
  grantedAt: number
  /** Per key, how many of the holder's shards have not been granted an identify yet. */
  ungranted: Map<number, number>
  shards: ReadonlySet<number>
}

export class StartGate extends EventEmitter {
  private state: GateMode
  private readonly waiters: Waiter[] = []
  private readonly held = new Map<string, Held>()
  /** Per key: when it may be used again. */
  private readonly keyFreeAt = new Map<number, number>()
  /** When every key may be used again (after a holder of every key). */
  private allFreeAt = 0
  private timer: unknown = null
  /** Coordinated mode: probe instances that have not asked yet (holder → its shards). */
  private readonly probesAsking = new Map<string, ReadonlySet<number>>()
  /** Coordinated mode: when later rounds stop waiting for slow probes. */
  private probesDeadline = 0
  /** Coordinated mode: when later rounds start (the deadline, or quietMs after the last probe asked). */
  private probesReleaseAt = 0
  private readonly quietMs: number
  private readonly clock: Clock
  private readonly keyOf: (shard: number) => number

  /** @param settleMs one identify window (the authority's spacing): how long a key stays busy after use */
  constructor(strategy: StartStrategy, private readonly settleMs: number, clock: Clock = systemClock, options: StartGateOptions = {}) {
    super()
    this.state = strategy === 'auto' ? 'probing' : strategy
    this.clock = clock
    this.keyOf = options.keyOf ?? (() => 0)
    this.quietMs = Math.max(0, options.quietMs ?? 0)
  }

  get mode(): GateMode {
    return this.state
  }

  /** Holders currently starting under the gate (not in coordinated mode). */
  get holders(): string[] {
    return [...this.held.keys()]
  }

  /**
   * Resolves when `holder` may start. `shards` (the instance's shard ids) lets it start beside
   * instances whose identify keys differ; without it the holder starts alone.
   */
  acquire(holder: string, signal?: AbortSignal, shards?: readonly number[]): Promise<StartSlot> {
    if (signal?.aborted) return Promise.reject(new AbortedError(`start of ${holder} was cancelled`))
    if (this.state === 'coordinated') return Promise.resolve({ holder, exclusive: false, coordinated: true })
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { holder, shards: shards && shards.length > 0 ? [...shards] : null, resolve, reject, signal }
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          reject(new AbortedError(`start of ${holder} was cancelled`))
          this.pump() // it may have been holding back later waiters
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.waiters.push(waiter)
      this.pump()
    })
  }

  /**
   * An instance asked the identify authority (or will): the bot coordinates its identifies through
   * us, so no instance needs to wait for another. Each waiting instance starts a lead time before its
   * shards' first turn can come: its round is its earliest place in the per-key queues, counting the
   * shards that already started, in the order the instances asked to start; round r's turn comes
   * about r windows from now. The lead is a window, or twice the probe's boot if that is longer,
   * plus half a window (spawns land between rounds of turns).
   * Later rounds also wait until every probe instance asked for its first turn (`shards`: the ones
   * asking now; none when a runtime only announced that it will ask), or finished starting, or took
   * as long again as the first one to ask; then `quietMs` more, so that forking them does not hold up
   * the last probe's send report.
   */
  noteCoordinatedIdentify(shards: readonly number[] = []): void {
    if (this.state === 'coordinated') return this.probeAsked(shards)
    if (this.state !== 'probing') return
    this.state = 'coordinated'
    this.emit('mode', this.state)
    const queued = new Map<number, number>() // per key: shards ahead in the authority's queue
    const count = (shard: number) => {
      const key = this.keyOf(shard)
      const place = queued.get(key) ?? 0
      queued.set(key, place + 1)
      return place
    }
    const now = this.clock.now()
    let probeBoot = 0
    for (const [holder, held] of this.held) {
      for (const s of held.shards) count(s)
      probeBoot = Math.max(probeBoot, now - held.grantedAt)
      this.probesAsking.set(holder, held.shards)
    }
    this.held.clear()
    // The others of the wave should ask about as soon; one that takes far longer holds nobody back.
    this.probesDeadline = now + probeBoot
    this.probesReleaseAt = this.probesDeadline
    const lead = Math.max(this.settleMs, 2 * probeBoot) + this.settleMs / 2
    for (const w of this.waiters) {
      const round = w.shards ? Math.min(...w.shards.map(count)) : 0
      w.notBefore = Math.max(now, now + round * this.settleMs - lead)
      w.afterProbes = round > 0
    }
    this.probeAsked(shards)
    this.pump()
  }

  /** A probe instance asked (its shards include one of `shards`), or finished starting: one less to wait for. */
  private probeAsked(shards: readonly number[], holder?: string): void {
    if (this.probesAsking.size === 0) return
    if (holder !== undefined) this.probesAsking.delete(holder)
    for (const [h, own] of this.probesAsking) if (shards.some((s) => own.has(s))) this.probesAsking.delete(h)
    if (this.probesAsking.size > 0) return
    this.probesReleaseAt = Math.min(this.probesDeadline, this.clock.now() + this.quietMs)
    this.pump()
  }

  /**
   * The authority granted `shardId` an identify. Once a holder's every shard of a key has been
   * granted, that key is free for the next wave one window later, whether or not the holder is ready.
   */
  noteIdentify(shardId: number): void {
    for (const held of this.held.values()) {
      if (!held.shards.has(shardId) || held.keys === ALL) continue
      const key = this.keyOf(shardId)
      const left = (held.ungranted.get(key) ?? 0) - 1
      if (left > 0) {
        held.ungranted.set(key, left)
        return
      }
      held.ungranted.delete(key)
      if (held.keys.delete(key)) this.busyUntil(key, this.clock.now() + this.settleMs)
      return this.pump()
    }
  }

  /**
   * The slot holder finished starting. `ready` = it became ready (its identifies are done);
   * otherwise it died or gave up, and its shards may still have identified, so the cool-down applies too.
   */
  release(slot: StartSlot, outcome: 'ready' | 'failed'): void {
    if (!slot.exclusive) return
    if (this.state === 'coordinated' && this.probesAsking.has(slot.holder)) return this.probeAsked([], slot.holder)
    const held = this.held.get(slot.holder)
    if (!held) return
    this.held.delete(slot.holder)
    if (this.state === 'probing' && outcome === 'ready') {
      this.state = 'waves'
      this.emit('mode', this.state)
    }
    const until = this.clock.now() + this.settleMs
    if (held.keys === ALL) this.allFreeAt = Math.max(this.allFreeAt, until)
    else for (const key of held.keys) this.busyUntil(key, until)
    this.pump()
  }

  close(reason = 'the manager is stopping'): void {
    this.clearTimer()
    for (const w of this.waiters.splice(0)) {
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort)
      w.reject(new AbortedError(reason))
    }
  }

  /** Starts every waiter whose keys are free, in order; keys of a waiter that must wait stay reserved for it. */
  private pump(): void {
    this.clearTimer()
    if (this.waiters.length === 0) return
    const now = this.clock.now()
    if (this.state === 'coordinated') return this.pumpCoordinated(now)
    const reserved = new Set<number>()
    let reservedAll = false
    for (let i = 0; i < this.waiters.length && !reservedAll; ) {
      const w = this.waiters[i]!
      const keys = this.keysOf(w)
      const clashes = keys === ALL ? reserved.size > 0 : [...keys].some((k) => reserved.has(k))
      if (!clashes && this.free(keys, now)) {
        this.waiters.splice(i, 1)
        this.held.set(w.holder, this.holding(w, keys, now))
        this.grant(w, true)
        continue
      }
      if (keys === ALL) reservedAll = true
      else for (const k of keys) reserved.add(k)
      i++
    }
    if (this.waiters.length === 0) return
    // Something waits for a cool-down (or for a holder, whose release pumps again).
    const next = Math.min(...[this.allFreeAt, ...this.keyFreeAt.values()].filter((t) => t > now))
    if (Number.isFinite(next)) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = null
        this.pump()
      }, next - now)
    }
  }

  /** Coordinated: every waiter starts at its time (no keys to wait for). */
  private pumpCoordinated(now: number): void {
    const startsAt = (w: Waiter) => Math.max(w.notBefore ?? 0, w.afterProbes ? this.probesReleaseAt : 0)
    for (const w of this.waiters.filter((x) => startsAt(x) <= now)) {
      this.waiters.splice(this.waiters.indexOf(w), 1)
      this.grant(w, false)
    }
    if (this.waiters.length === 0) return
    const next = Math.min(...this.waiters.map(startsAt))
    this.timer = this.clock.setTimeout(() => {
      this.timer = null
      this.pump()
    }, next - now)
  }

  private keysOf(w: Waiter): Keys {
    if (w.shards === null || this.state === 'sequential') return ALL
    return new Set(w.shards.map((s) => this.keyOf(s)))
  }

  private free(keys: Keys, now: number): boolean {
    if (now < this.allFreeAt) return false
    if (keys === ALL) return this.held.size === 0 && [...this.keyFreeAt.values()].every((t) => t <= now)
    for (const held of this.held.values()) {
      if (held.keys === ALL || [...keys].some((k) => (held.keys as Set<number>).has(k))) return false
    }
    return [...keys].every((k) => (this.keyFreeAt.get(k) ?? 0) <= now)
  }

  private holding(w: Waiter, keys: Keys, now: number): Held {
    const ungranted = new Map<number, number>()
    for (const s of w.shards ?? []) ungranted.set(this.keyOf(s), (ungranted.get(this.keyOf(s)) ?? 0) + 1)
    return { keys, grantedAt: now, ungranted, shards: new Set(w.shards ?? []) }
  }

  private busyUntil(key: number, at: number): void {
    this.keyFreeAt.set(key, Math.max(this.keyFreeAt.get(key) ?? 0, at))
  }

  private clearTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer)
    this.timer = null
  }

  private grant(w: Waiter, exclusive: boolean): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort)
    w.resolve(exclusive ? { holder: w.holder, exclusive } : { holder: w.holder, exclusive, coordinated: true })
  }
}

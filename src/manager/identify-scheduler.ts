/**
 * The identify authority: the only place that decides when a shard may send IDENTIFY.
 * Discord allows one IDENTIFY per window per key (`shard % maxConcurrency`) and a daily budget.
 * Waiters queue FIFO per key, keys run in parallel, a grant is a point in time (a crashed holder
 * needs no release), and when the budget is spent every queue waits for the reset instead of
 * guessing. RESUMEs never come here.
 *
 * A grant says when a shard may send, not when it did: an instance whose event loop is busy sends
 * later. So the next grant of a key normally waits `windowMs + marginMs` from the grant. When the
 * shard's runtime confirms that its IDENTIFY has left (`confirmSent`, after the send, so the
 * confirmation can only be later than the send), the next grant comes `windowMs + sentMarginMs`
 * after the confirmation instead, sooner or later than that: the spacing then holds between the
 * real sends (a send that left late moves the next turn too), and the margin only has to absorb the
 * network's jitter.
 *
 * A grant that travels further before it is used (to a MACHINES child, over a link that can be slow
 * or congested) is *held*: the key grants nothing more until the holder says the grant reached its
 * end (`release`: the turn was handed to the instance, or will never be), and the next grant then
 * waits `windowMs + marginMs` from that moment. A grant that sat a second behind a filled link thus
 * moves its key's next turn by that second, instead of the next turn of the key (perhaps over a
 * quicker link) landing within the window of the late one. A hold ends by itself after `holdLimitMs`
 * (a holder that never answers must not stop a key forever).
 */
import { EventEmitter } from 'node:events'
import { AbortedError } from '../errors.js'
import { systemClock, type Clock } from '../util/clock.js'

export interface IdentifyBudget {
  total: number
  remaining: number
  /** When `remaining` is restored to `total`: the scheduler's clock inside, epoch ms in stats(). */
  resetAt: number
}

export interface IdentifySchedulerOptions {
  maxConcurrency: number
  /** Discord's window per key (5000 ms). */
  windowMs: number
  /** Added to every window to absorb the latency between our grant and the shard's send. */
  marginMs: number
  /** Added to the window after a confirmed send (see confirmSent); at most marginMs counts. Default: marginMs. */
  sentMarginMs?: number
  budget?: IdentifyBudget
  clock?: Clock
  /** The longest a held grant keeps its key closed without a release (default 60 s). */
  holdLimitMs?: number
}

/** Default `holdLimitMs`: beyond a machine link's heartbeat timeout (15 s) and a reconnect. */
export const DEFAULT_HOLD_LIMIT_MS = 60_000

export interface IdentifyGrant {
  shardId: number
  key: number
  at: number
}

interface Waiter {
  shardId: number
  resolve(grant: IdentifyGrant): void
  reject(err: Error): void
  hold: boolean
  onAbort?: () => void
  signal?: AbortSignal
}

interface KeyQueue {
  /** When the key may be granted again (null: never used). */
  freeAt: number | null
  /** The shard granted last: only its report of a send moves the key's next grant. */
  lastShard: number | null
  /** When that grant was made: no report can place the send before it. */
  grantedAt: number
  /** A held grant not released yet (see the class comment): the key grants nothing until then. */
  heldBy: number | null
  heldUntil: number
  waiters: Waiter[]
  timer: unknown
}

export class IdentifyScheduler extends EventEmitter {
  private maxConcurrency: number
  readonly windowMs: number
  readonly marginMs: number
  readonly sentMarginMs: number
  readonly holdLimitMs: number
  private readonly clock: Clock
  private readonly keys = new Map<number, KeyQueue>()
  private budget: IdentifyBudget | undefined
  private grants = 0
  private confirmedSends = 0
  /** Granted shards whose send has not been reported yet (a report counts once per grant). */
  private readonly awaitingSend = new Set<number>()

  constructor(options: IdentifySchedulerOptions) {
    super()
    this.maxConcurrency = options.maxConcurrency
    this.windowMs = options.windowMs
    this.marginMs = options.marginMs
    this.sentMarginMs = Math.min(options.sentMarginMs ?? options.marginMs, options.marginMs)
    this.budget = options.budget ? { ...options.budget } : undefined
    this.clock = options.clock ?? systemClock
    this.holdLimitMs = options.holdLimitMs ?? DEFAULT_HOLD_LIMIT_MS
  }

  /** Effective spacing between two grants of one key. */
  get spacingMs(): number {
    return this.windowMs + this.marginMs
  }

  get concurrency(): number {
    return this.maxConcurrency
  }

  keyOf(shardId: number): number {
    return shardId % this.maxConcurrency
  }

  /** Changes max_concurrency (e.g. after /gateway/bot answered). Only safe while nothing waits. */
  setMaxConcurrency(n: number): void {
    if (n === this.maxConcurrency) return
    if (this.waiting() > 0) throw new Error('cannot change maxConcurrency while identifies are queued')
    this.maxConcurrency = n
    this.keys.clear()
  }

  /** What is left of the daily budget now (after a reset that is due), or undefined when unlimited. */
  budgetNow(): IdentifyBudget | undefined {
    if (!this.budget) return undefined
    this.budgetWait(this.clock.now())
    return { ...this.budget }
  }

  /** Identifies that happened without a grant (a bot's own throttler) spend the budget too. */
  spend(count: number): void {
    if (this.budget) this.budget.remaining = Math.max(0, this.budget.remaining - count)
  }

  setBudget(budget: IdentifyBudget | undefined): void {
    this.budget = budget ? { ...budget } : undefined
    for (const key of this.keys.keys()) this.pump(key)
  }

  /** Queues for a turn; `hold: true` keeps the key closed after the grant until `release` (see the class comment). */
  acquire(shardId: number, options: { signal?: AbortSignal; hold?: boolean } = {}): Promise<IdentifyGrant> {
    const { signal, hold = false } = options
    if (signal?.aborted) return Promise.reject(new AbortedError(`identify of shard ${shardId} was cancelled`))
    const key = this.keyOf(shardId)
    const queue = this.queue(key)
    return new Promise<IdentifyGrant>((resolve, reject) => {
      const waiter: Waiter = { shardId, resolve, reject, signal, hold }
      if (signal) {
        waiter.onAbort = () => {
          const i = queue.waiters.indexOf(waiter)
          if (i < 0) return
          queue.waiters.splice(i, 1)
          reject(new AbortedError(`identify of shard ${shardId} was cancelled`))
          this.pump(key)
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      queue.waiters.push(waiter)
      this.pump(key)
    })
  }

  /**
   * A granted shard has sent its IDENTIFY (the runtime reports it right after the send). If it is
   * still the last grant of its key, the key's next grant comes a window plus `sentMarginMs` from the
   * send: sooner than the grant's own spacing when the report came promptly, later when the send was
   * late. `sentAgoMs` is how long before now the report says the send was (an instance on this host
   * reads the same clock as the manager, so its report need not carry the trip it took through a
   * busy manager into every round); without it the send counts as now, an upper bound. A send is
   * never placed before its grant. A report that comes after the key's next grant (a very busy
   * instance) changes nothing; one without a grant, or a second one, is ignored.
   */
  confirmSent(shardId: number, sentAgoMs = 0): void {
    if (!this.awaitingSend.delete(shardId)) return
    this.confirmedSends++
    const key = this.keyOf(shardId)
    const queue = this.keys.get(key)
    if (!queue || queue.lastShard !== shardId) return
    // a send implies the grant reached the shard
    const wasHeld = queue.heldBy === shardId
    if (wasHeld) queue.heldBy = null
    const ago = Number.isFinite(sentAgoMs) && sentAgoMs > 0 ? sentAgoMs : 0
    const sentAt = Math.max(queue.grantedAt, this.clock.now() - ago)
    const freeAt = sentAt + this.windowMs + this.sentMarginMs
    if (queue.freeAt !== null && (wasHeld || freeAt !== queue.freeAt)) {
      queue.freeAt = freeAt
      if (queue.waiters.length > 0 || wasHeld) this.pump(key)
    }
  }

  /**
   * A held grant reached its end: handed to the shard's instance just now, or given up (it will never
   * be used). The key's next grant comes at least `windowMs + marginMs` from now. Anything else (no
   * hold, another shard's hold, a second release) is ignored.
   */
  release(shardId: number): void {
    const key = this.keyOf(shardId)
    const queue = this.keys.get(key)
    if (!queue || queue.heldBy !== shardId) return
    this.endHold(queue, this.clock.now())
    this.pump(key)
  }

  /** Releases every held grant whose shard `matches` (a link that lost its messages: none of them will arrive). */
  releaseHeld(matches: (shardId: number) => boolean): void {
    for (const queue of this.keys.values()) if (queue.heldBy !== null && matches(queue.heldBy)) this.release(queue.heldBy)
  }

  /** The key may grant again, a full spacing after `now` at the soonest. */
  private endHold(queue: KeyQueue, now: number): void {
    queue.heldBy = null
    if (queue.freeAt === null || queue.freeAt < now + this.spacingMs) queue.freeAt = now + this.spacingMs
  }

  /**
   * Records identifies that happened without a grant (a bot using its own throttler), so later
   * grants keep a full window away from them.
   */
  markUsed(shardIds: Iterable<number>, agoMs = 0): void {
    const at = this.clock.now() - Math.max(0, agoMs)
    for (const id of shardIds) {
      const queue = this.queue(this.keyOf(id))
      if (queue.freeAt === null || queue.freeAt < at + this.spacingMs) queue.freeAt = at + this.spacingMs
      queue.lastShard = null
      if (queue.waiters.length > 0) this.pump(this.keyOf(id))
    }
  }

  waiting(): number {
    let n = 0
    for (const q of this.keys.values()) n += q.waiters.length
    return n
  }

  stats(): { granted: number; sendsConfirmed: number; waiting: number; maxConcurrency: number; spacingMs: number; budget?: IdentifyBudget } {
    return {
      granted: this.grants,
      sendsConfirmed: this.confirmedSends,
      waiting: this.waiting(),
      maxConcurrency: this.maxConcurrency,
      spacingMs: this.spacingMs,
      ...(this.budget ? { budget: { ...this.budget, resetAt: Math.round(Date.now() + (this.budget.resetAt - this.clock.now())) } } : {}),
    }
  }

  /** Rejects everything queued (manager stopping). */
  close(reason = 'the identify authority stopped'): void {
    for (const queue of this.keys.values()) {
      if (queue.timer !== null) this.clock.clearTimeout(queue.timer)
      queue.timer = null
      for (const w of queue.waiters.splice(0)) this.settle(w, new AbortedError(reason))
    }
  }

  private queue(key: number): KeyQueue {
    let q = this.keys.get(key)
    if (!q) {
      q = { freeAt: null, lastShard: null, grantedAt: 0, heldBy: null, heldUntil: 0, waiters: [], timer: null }
      this.keys.set(key, q)
    }
    return q
  }

  private pump(key: number): void {
    const queue = this.queue(key)
    if (queue.timer !== null) {
      this.clock.clearTimeout(queue.timer)
      queue.timer = null
    }
    const now = this.clock.now()
    if (queue.heldBy !== null) {
      if (now < queue.heldUntil) {
        queue.timer = this.clock.setTimeout(() => this.pump(key), queue.heldUntil - now)
        return
      }
      this.emit('holdExpired', { shardId: queue.heldBy, key, heldMs: this.holdLimitMs })
      this.endHold(queue, now)
    }
    if (queue.waiters.length === 0) return
    const budgetWait = this.budgetWait(now)
    if (budgetWait > 0) {
      queue.timer = this.clock.setTimeout(() => this.pump(key), budgetWait)
      return
    }
    const readyAt = queue.freeAt ?? now
    if (now < readyAt) {
      queue.timer = this.clock.setTimeout(() => this.pump(key), readyAt - now)
      return
    }
    const waiter = queue.waiters.shift()!
    queue.freeAt = now + this.spacingMs
    queue.lastShard = waiter.shardId
    queue.grantedAt = now
    if (waiter.hold) {
      queue.heldBy = waiter.shardId
      queue.heldUntil = now + this.holdLimitMs
    }
    this.awaitingSend.add(waiter.shardId)
    this.grants++
    if (this.budget) this.budget.remaining--
    const grant: IdentifyGrant = { shardId: waiter.shardId, key, at: now }
    this.emit('grant', grant)
    this.settle(waiter, null, grant)
    if (queue.heldBy !== null) queue.timer = this.clock.setTimeout(() => this.pump(key), this.holdLimitMs)
    else if (queue.waiters.length > 0) queue.timer = this.clock.setTimeout(() => this.pump(key), this.spacingMs)
  }

  /** How long the daily budget makes every queue wait; 0 when an identify may go now. */
  private budgetWait(now: number): number {
    const budget = this.budget
    if (!budget || budget.remaining > 0) return 0
    if (now >= budget.resetAt) {
      budget.remaining = budget.total
      budget.resetAt = now + 86_400_000
      return 0
    }
    this.emit('budgetExhausted', { ...budget })
    return budget.resetAt - now
  }

  private settle(w: Waiter, err: Error | null, grant?: IdentifyGrant): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort)
    if (err) w.reject(err)
    else w.resolve(grant!)
  }
}

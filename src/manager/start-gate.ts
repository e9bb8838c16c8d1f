/**
 * Decides when an instance may start, so bots that throttle identifies on their own (unmodified
 * discord.js) never collide with another instance.
 *
 * - `coordinated`: every shard asks the identify authority, so all instances start at once.
 * - `sequential`: one instance starts at a time; the next waits until the previous one is ready
 *   and a full identify window has passed (all of an instance's IDENTIFYs precede its READYs).
 * - `auto`: start one instance as a probe. If it asks the authority for an identify, the bot is
 *   coordinated and everything else starts at once; if it becomes ready without asking, the bot
 *   throttles itself and the rest start sequentially.
 */
import { EventEmitter } from 'node:events'
import { AbortedError } from '../errors.js'
import { systemClock, type Clock } from '../util/clock.js'

export type StartStrategy = 'auto' | 'coordinated' | 'sequential'
type GateMode = 'probing' | 'coordinated' | 'sequential'

export interface StartSlot {
  readonly holder: string
  /** Gate mode when the slot was granted. Slots granted in coordinated mode need no release. */
  readonly exclusive: boolean
}

interface Waiter {
  holder: string
  resolve(slot: StartSlot): void
  reject(err: Error): void
  signal?: AbortSignal
  onAbort?: () => void
}

export class StartGate extends EventEmitter {
  private state: GateMode
  private holder: string | null = null
  private readonly waiters: Waiter[] = []
  private coolDownUntil = 0
  private timer: unknown = null
  private readonly clock: Clock

  constructor(
    strategy: StartStrategy,
    private readonly settleMs: number,
    clock: Clock = systemClock,
  ) {
    super()
    this.state = strategy === 'auto' ? 'probing' : strategy
    this.clock = clock
  }

  get mode(): GateMode {
    return this.state
  }

  acquire(holder: string, signal?: AbortSignal): Promise<StartSlot> {
    if (signal?.aborted) return Promise.reject(new AbortedError(`start of ${holder} was cancelled`))
    if (this.state === 'coordinated') return Promise.resolve({ holder, exclusive: false })
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { holder, resolve, reject, signal }
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          reject(new AbortedError(`start of ${holder} was cancelled`))
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.waiters.push(waiter)
      this.pump()
    })
  }

  /** An instance asked the identify authority: the bot coordinates its identifies through us. */
  noteCoordinatedIdentify(): void {
    if (this.state !== 'probing') return
    this.state = 'coordinated'
    this.emit('mode', this.state)
    this.holder = null
    for (const w of this.waiters.splice(0)) this.grant(w, false)
  }

  /**
   * The slot holder finished starting. `ready` = it became ready (its identifies are done);
   * otherwise it died or gave up, and its shards may still have identified, so the cool-down applies too.
   */
  release(slot: StartSlot, outcome: 'ready' | 'failed'): void {
    if (!slot.exclusive || this.holder !== slot.holder) return
    if (this.state === 'probing' && outcome === 'ready') {
      this.state = 'sequential'
      this.emit('mode', this.state)
    }
    this.holder = null
    this.coolDownUntil = this.clock.now() + this.settleMs
    this.pump()
  }

  close(reason = 'the manager is stopping'): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer)
    this.timer = null
    for (const w of this.waiters.splice(0)) {
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort)
      w.reject(new AbortedError(reason))
    }
  }

  private pump(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer)
      this.timer = null
    }
    if (this.holder !== null || this.waiters.length === 0) return
    const wait = this.coolDownUntil - this.clock.now()
    if (wait > 0) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = null
        this.pump()
      }, wait)
      return
    }
    const next = this.waiters.shift()!
    this.holder = next.holder
    this.grant(next, true)
  }

  private grant(w: Waiter, exclusive: boolean): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort)
    w.resolve({ holder: w.holder, exclusive })
  }
}

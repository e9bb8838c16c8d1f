/**
 * The one request mechanism of every hop (process IPC, worker messages, machine links). Each side
 * of a hop owns one RpcEndpoint: it sends `req` and matches `res` by id, and serves the other
 * side's `req` with a handler. The rules hold on every hop:
 *
 * - A call has one absolute deadline; the request carries what is left of it (`ttl`) and the
 *   serving side works to that same deadline (no padding per hop).
 * - A caller that times out or aborts sends `cancel`; the serving side aborts the handler's signal,
 *   which cancels whatever the handler waits on, further hops included, and answers nothing.
 * - Errors keep their type across hops (`fromWireError`).
 * - A message that cannot be sent (channel closed, frame too large, link backpressure) rejects the
 *   call at once with that error instead of becoming a timeout.
 * - Every pending entry is removed when it settles, however it settles.
 */
import { AbortedError, ProtocolError, TimeoutError } from '../errors.js'
import { envelope, Ops, type Envelope, type Outcome } from '../ipc/envelope.js'
import { toWireError } from '../ipc/values.js'
import { fromWireError } from '../ipc/wire-errors.js'
import { systemClock, type Clock } from '../util/clock.js'
import { untilAborted } from './abort.js'
import { deadlineFromTtl, NO_DEADLINE, ttlOf, type Deadline } from './deadline.js'

export interface RpcPeer {
  /** The other side, as error messages name it: 'instance 3', 'machine a', 'the parent'. */
  readonly name: string
  /** Sends one message; throws a ShardingError when it cannot be sent. */
  post(msg: Envelope): void
  /** False while the peer cannot be reached (a link that is down); a timeout then says so. */
  reachable?(): boolean
  /** The error for a call whose deadline passed while the peer was unreachable. */
  unreachableError?(what: string): Error
  /** Context for errors rebuilt from the other side (which instance or machine answered). */
  readonly errorWhere?: { instance?: number; machine?: string }
  /** A malformed req/res/cancel arrived: it is dropped, and reported here. */
  onProtocolError?(err: ProtocolError): void
}

/** The deadline and cancellation a piece of work runs under; passed down to every sub-call. */
export interface CallScope {
  readonly deadline: Deadline
  readonly signal?: AbortSignal
}

/** What a handler knows about the request it serves. */
export interface CallContext extends CallScope {
  /** Aborted when the caller cancels, its deadline passes, or the peer is gone. */
  readonly signal: AbortSignal
}

export type RpcHandler = (kind: string, data: Record<string, unknown>, ctx: CallContext) => Promise<unknown>

export interface CallOptions {
  deadline?: Deadline
  signal?: AbortSignal
  /** For messages: 'eval on instance 3'. Default: `${kind} to ${peer.name}`. */
  describe?: string
}

interface Pending {
  resolve(value: unknown): void
  reject(err: Error): void
  timer: unknown
  deadline: Deadline
  cleanup(): void
}

const MAX_ID = 0x7fffffff

export class RpcEndpoint {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly serving = new Map<number, AbortController>()

  constructor(
    private readonly peer: RpcPeer,
    private readonly handler: RpcHandler | null,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Requests in flight each way; both drop to 0 whenever nothing is pending. */
  get inFlight(): { calls: number; serving: number } {
    return { calls: this.pending.size, serving: this.serving.size }
  }

  call(kind: string, data: Record<string, unknown>, opts: CallOptions = {}): Promise<unknown> {
    const describe = opts.describe ?? `${kind} to ${this.peer.name}`
    const deadline = opts.deadline ?? NO_DEADLINE
    const signal = opts.signal
    if (signal?.aborted) return Promise.reject(new AbortedError(`${describe} was cancelled`))
    const now = this.clock.now()
    if (deadline <= now) return Promise.reject(new TimeoutError(`${describe}: the deadline passed before it was sent`))
    const id = this.takeId()
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        if (this.settle(id)) {
          this.postQuietly(envelope(Ops.CANCEL, undefined, id))
          reject(new AbortedError(`${describe} was cancelled`))
        }
      }
      const entry: Pending = {
        resolve,
        reject,
        timer: null,
        deadline,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      }
      if (deadline !== NO_DEADLINE) {
        const ms = deadline - now
        entry.timer = this.clock.setTimeout(() => {
          if (!this.settle(id)) return
          this.postQuietly(envelope(Ops.CANCEL, undefined, id))
          reject(this.timeoutError(describe, ms))
        }, ms)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, entry)
      try {
        this.peer.post({ ...envelope(Ops.REQUEST, data, id), k: kind, ...ttlField(deadline, now) })
      } catch (err) {
        this.settle(id)
        reject(err instanceof Error ? err : new Error(String(err)))
      }
    })
  }

  /** Takes req/res/cancel messages; returns false for any other op. */
  handle(msg: Envelope): boolean {
    switch (msg.op) {
      case Ops.REQUEST:
        if (!validId(msg.id) || typeof msg.k !== 'string') return this.malformed(`request without a valid id and kind: ${preview(msg)}`)
        void this.serve(msg.id, msg.k, isRecord(msg.d) ? msg.d : {}, deadlineFromTtl(msg.ttl, this.clock.now()))
        return true
      case Ops.RESPONSE: {
        if (!validId(msg.id) || !isOutcome(msg.d)) return this.malformed(`response without a valid id and outcome: ${preview(msg)}`)
        const entry = this.pending.get(msg.id)
        if (!entry) return true // answered after its caller gave up: nothing waits for it
        this.settle(msg.id)
        if (msg.d.ok) entry.resolve(msg.d.value)
        else entry.reject(fromWireError(msg.d.error, this.peer.errorWhere))
        return true
      }
      case Ops.CANCEL:
        if (!validId(msg.id)) return this.malformed(`cancel without a valid id: ${preview(msg)}`)
        this.serving.get(msg.id)?.abort(new AbortedError('the caller cancelled'))
        return true
      default:
        return false
    }
  }

  /** The peer is gone (died, new link session): nothing in flight will be answered, either way. */
  failAll(err: Error): void {
    this.failCalls(err)
    for (const abort of this.serving.values()) abort.abort(err)
    this.serving.clear()
  }

  /**
   * Rejects our calls in flight; what we serve goes on. With `onlyWithoutDeadline`, calls that have
   * a deadline keep waiting for it (their message is queued and may still be delivered).
   */
  failCalls(err: Error, onlyWithoutDeadline = false): void {
    for (const [id, entry] of [...this.pending]) {
      if (onlyWithoutDeadline && entry.deadline !== NO_DEADLINE) continue
      this.settle(id)
      entry.reject(err)
    }
  }

  private async serve(id: number, kind: string, data: Record<string, unknown>, deadline: Deadline): Promise<void> {
    if (!this.handler) return this.respond(id, { ok: false, error: toWireError(new ProtocolError(`${this.peer.name} sent a request, but this side serves none`, 'UNKNOWN_OP')) })
    const abort = new AbortController()
    this.serving.get(id)?.abort(new AbortedError('superseded by a request with the same id'))
    this.serving.set(id, abort)
    // The caller gives up at the deadline; whatever this request still waits on is released then too.
    const timer =
      deadline === NO_DEADLINE ? null : this.clock.setTimeout(() => abort.abort(new TimeoutError(`${kind} passed its deadline`)), Math.max(0, deadline - this.clock.now()))
    let outcome: Outcome
    try {
      outcome = { ok: true, value: await untilAborted(this.handler(kind, data, { deadline, signal: abort.signal }), abort.signal) }
    } catch (err) {
      outcome = { ok: false, error: toWireError(err) }
    } finally {
      if (timer !== null) this.clock.clearTimeout(timer)
      if (this.serving.get(id) === abort) this.serving.delete(id)
    }
    if (!abort.signal.aborted) this.respond(id, outcome)
  }

  /** A result that cannot be sent (too large, say) is answered with the reason instead. */
  private respond(id: number, outcome: Outcome): void {
    try {
      this.peer.post(envelope(Ops.RESPONSE, outcome, id))
    } catch (err) {
      if (outcome.ok) this.postQuietly(envelope(Ops.RESPONSE, { ok: false, error: toWireError(err) }, id))
    }
  }

  private postQuietly(msg: Envelope): void {
    try {
      this.peer.post(msg)
    } catch {
      // The channel is closed or full: the other side learns it from the channel itself.
    }
  }

  private settle(id: number): boolean {
    const entry = this.pending.get(id)
    if (!entry) return false
    this.pending.delete(id)
    if (entry.timer !== null) this.clock.clearTimeout(entry.timer)
    entry.cleanup()
    return true
  }

  private timeoutError(describe: string, ms: number): Error {
    if (this.peer.reachable && !this.peer.reachable() && this.peer.unreachableError) {
      return this.peer.unreachableError(`${describe} could not be delivered within ${Math.round(ms)} ms`)
    }
    return new TimeoutError(`${describe} got no answer within ${Math.round(ms)} ms`)
  }

  private takeId(): number {
    const id = this.nextId
    this.nextId = this.nextId >= MAX_ID ? 1 : this.nextId + 1
    return id
  }

  private malformed(what: string): true {
    this.peer.onProtocolError?.(new ProtocolError(`${this.peer.name}: ${what}`, 'MALFORMED_MESSAGE'))
    return true
  }
}

function ttlField(deadline: Deadline, now: number): { ttl?: number } {
  const ttl = ttlOf(deadline, now)
  return ttl === undefined ? {} : { ttl }
}

function validId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id > 0 && id <= MAX_ID
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isOutcome(v: unknown): v is Outcome {
  if (!isRecord(v) || typeof v.ok !== 'boolean') return false
  if (v.ok) return true
  const e = v.error as Record<string, unknown> | undefined
  return isRecord(e) && typeof e.message === 'string'
}

function preview(msg: unknown): string {
  try {
    return JSON.stringify(msg).slice(0, 120)
  } catch {
    return String(msg)
  }
}

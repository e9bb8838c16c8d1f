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
import { PROTOCOL_VERSION } from '../constants.js'
import { Ops, type Envelope, type Outcome } from '../ipc/envelope.js'
import { toWireError } from '../ipc/values.js'
import { fromWireError } from '../ipc/wire-errors.js'
import { systemClock, type Clock } from '../util/clock.js'
import { NO_DEADLINE, type Deadline } from './deadline.js'
import { CallTable } from './call-table.js'
import { DeadlineSweeper } from './sweeper.js'

export interface RpcPeer {
  /** The other side, as error messages name it: 'instance 3', 'machine a', 'the parent'. */
  readonly name: string
  /** Sends one message; throws a ShardingError when it cannot be sent. May return a token for withdraw(). */
  post(msg: Envelope): unknown
  /** Takes back a request that is still queued (its caller gave up), so it is never delivered. */
  withdraw?(token: unknown): void
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

/** Answers a request: with a value, or a promise of one (a value answers at once, with no promise in between). */
export type RpcHandler = (kind: string, data: Record<string, unknown>, ctx: CallContext) => unknown

export interface CallOptions {
  deadline?: Deadline
  signal?: AbortSignal
  /** For messages: 'eval on instance 3'. Default: `${kind} to ${peer.name}`. */
  describe?: string
}

/**
 * Takes the outcomes of calls made with `callInto`, without a promise per call: a fan-out gives
 * every part the same sink and tells them apart by `tag`.
 */
export interface CallSink {
  /** `value` is the result when `ok`, else the Error. May run before `callInto` returns. */
  settled(tag: number, ok: boolean, value: unknown): void
}

/** A promise's outcome, to a sink (for the parts of a fan-out that are not a call on this layer). */
export function settleInto(promise: Promise<unknown>, sink: CallSink, tag: number): void {
  promise.then(
    (value) => sink.settled(tag, true, value),
    (err: unknown) => sink.settled(tag, false, err),
  )
}

interface Pending {
  /** The promise's, for `call`; for `callInto`, `sink` takes the outcome instead. */
  resolve(value: unknown): void
  reject(err: Error): void
  sink: CallSink | null
  tag: number
  deadline: Deadline
  /** When the call was sent, for the timeout message. */
  sentAt: number
  kind: string
  describe: string
  signal: AbortSignal | undefined
  onAbort: (() => void) | null
  /** What post() returned, for withdraw(). */
  token: unknown
}

/**
 * A request being served, and the context its handler gets: the deadline, and an abort signal made
 * only if the handler asks for one (most handlers, evals, never do). A class rather than an object
 * literal with a getter: the literal made a closure and an accessor per request, which cost time per
 * call and made the optimizing compiler's job on this hot path about twice as large.
 */
class Serving implements CallContext {
  private abort: AbortController | null = null
  /** Cancelled, expired or answered: whatever the handler returns later is not sent. */
  done = false

  constructor(readonly deadline: Deadline) {}

  get signal(): AbortSignal {
    this.abort ??= new AbortController()
    if (this.done && !this.abort.signal.aborted) this.abort.abort(new AbortedError('the request ended'))
    return this.abort.signal
  }

  /** Stops the request: its signal (if the handler took one) aborts with `reason`. */
  end(reason: Error): void {
    this.done = true
    this.abort?.abort(reason)
  }
}

const MAX_ID = 0x7fffffff

/** A pending entry's resolve / reject until its promise's executor has run (at once, in call()). */
const unset = (): void => {}

export class RpcEndpoint {
  private nextId = 1
  private readonly pending = new CallTable<Pending>()
  private readonly serving = new Map<number, Serving>()
  private readonly callDeadlines: DeadlineSweeper<number>
  private readonly serveDeadlines: DeadlineSweeper<number>

  constructor(
    private readonly peer: RpcPeer,
    private readonly handler: RpcHandler | null,
    private readonly clock: Clock = systemClock,
  ) {
    this.callDeadlines = new DeadlineSweeper(clock, () => this.pending.entries(), (id) => this.expireCall(id))
    // The caller gives up at the deadline; whatever a request still waits on is released then too.
    this.serveDeadlines = new DeadlineSweeper(clock, () => this.serving.entries(), (id) => this.endServing(id, new TimeoutError('the request passed its deadline')))
  }

  /** Our calls waiting for an answer (inFlight.calls without the object). */
  get callsInFlight(): number {
    return this.pending.size
  }

  /** Requests in flight each way; both drop to 0 whenever nothing is pending. */
  get inFlight(): { calls: number; serving: number } {
    return { calls: this.pending.size, serving: this.serving.size }
  }

  call(kind: string, data: Record<string, unknown>, opts: CallOptions = {}): Promise<unknown> {
    // The promise's executor captures the entry alone, and the rest runs out here: a closure over the
    // whole call allocated two contexts per call, which the manager does thousands of times a second.
    const entry = newEntry(kind, opts, null, 0)
    const promise = new Promise((resolve, reject) => {
      entry.resolve = resolve
      entry.reject = reject
    })
    this.send(entry, data)
    return promise
  }

  /**
   * The same call, its outcome given to `sink` with `tag` instead of a promise: a fan-out to many
   * instances then makes no promise, executor and reactions per instance (src/manager/instance-pool.ts).
   */
  callInto(kind: string, data: Record<string, unknown>, opts: CallOptions, sink: CallSink, tag: number): void {
    this.send(newEntry(kind, opts, sink, tag), data)
  }

  private send(entry: Pending, data: Record<string, unknown>): void {
    const { deadline, signal } = entry
    if (signal?.aborted) return this.deliver(entry, false, new AbortedError(`${this.describe(entry)} was cancelled`))
    const now = this.clock.now()
    if (deadline <= now) return this.deliver(entry, false, new TimeoutError(`${this.describe(entry)}: the deadline passed before it was sent`))
    entry.sentAt = now
    // (the id, the ttl, and in handle() the checks and settle(), written out: see "Small helpers" in src/ipc/envelope.ts)
    const id = this.nextId
    this.nextId = id >= MAX_ID ? 1 : id + 1
    if (signal) this.cancelOnAbort(id, entry, signal)
    this.pending.set(id, entry)
    this.callDeadlines.watch(deadline)
    const msg: Envelope = { v: PROTOCOL_VERSION, op: Ops.REQUEST, id, k: entry.kind, d: data }
    if (deadline !== NO_DEADLINE) msg.ttl = Math.max(0, Math.floor(deadline - now)) // what is left, in whole ms; none: no ttl
    try {
      entry.token = this.peer.post(msg)
    } catch (err) {
      this.settle(id)
      this.deliver(entry, false, err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** A call's outcome, to its promise or its sink. */
  private deliver(entry: Pending, ok: boolean, value: unknown): void {
    if (entry.sink) entry.sink.settled(entry.tag, ok, value)
    else if (ok) entry.resolve(value)
    else entry.reject(value as Error)
  }

  /** The caller's signal aborts: the call is withdrawn or cancelled, and rejects. */
  private cancelOnAbort(id: number, entry: Pending, signal: AbortSignal): void {
    entry.onAbort = () => {
      if (!this.settle(id)) return
      this.withdraw(entry)
      this.postQuietly({ v: PROTOCOL_VERSION, op: Ops.CANCEL, id })
      this.deliver(entry, false, new AbortedError(`${this.describe(entry)} was cancelled`))
    }
    signal.addEventListener('abort', entry.onAbort, { once: true })
  }

  /** Takes req/res/cancel messages; returns false for any other op. */
  handle(msg: Envelope): boolean {
    switch (msg.op) {
      case Ops.REQUEST: {
        const { id, d, ttl } = msg
        if (!(Number.isInteger(id) && id! > 0 && id! <= MAX_ID) || typeof msg.k !== 'string') return this.malformed(`request without a valid id and kind: ${preview(msg)}`)
        const data = typeof d === 'object' && d !== null && !Array.isArray(d) ? (d as Record<string, unknown>) : {}
        // the caller's deadline as what was left of it, from now; no (or a bad) ttl: none
        this.serve(id!, msg.k, data, typeof ttl === 'number' && ttl >= 0 && ttl < Infinity ? this.clock.now() + ttl : NO_DEADLINE)
        return true
      }
      case Ops.RESPONSE: {
        const id = msg.id
        const d = msg.d as Outcome
        if (!(Number.isInteger(id) && id! > 0 && id! <= MAX_ID) || typeof d !== 'object' || d === null || typeof d.ok !== 'boolean' || (!d.ok && !isOutcome(d))) {
          return this.malformed(`response without a valid id and outcome: ${preview(msg)}`)
        }
        const entry = this.pending.get(id!)
        if (!entry) return true // answered after its caller gave up: nothing waits for it
        this.pending.delete(id!) // settle()
        if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort)
        if (d.ok) this.deliver(entry, true, d.value)
        else this.deliver(entry, false, fromWireError(d.error, this.peer.errorWhere))
        return true
      }
      case Ops.CANCEL:
        if (!validId(msg.id)) return this.malformed(`cancel without a valid id: ${preview(msg)}`)
        this.endServing(msg.id, new AbortedError('the caller cancelled'))
        return true
      default:
        return false
    }
  }

  /**
   * A message that `peer.post` accepted could not be sent after all (a packer found the channel closed,
   * or could not serialize it; src/ipc/packing.ts): its call fails with `err`, as if post had thrown,
   * and a result that could not be sent is answered with the reason instead.
   */
  undeliverable(msg: Envelope, err: Error): void {
    if (typeof msg.id !== 'number') return
    if (msg.op === Ops.REQUEST) {
      const entry = this.pending.get(msg.id)
      if (entry && this.settle(msg.id)) this.deliver(entry, false, err)
    } else if (msg.op === Ops.RESPONSE && (msg.d as Outcome | undefined)?.ok) {
      this.postQuietly({ v: PROTOCOL_VERSION, op: Ops.RESPONSE, id: msg.id, d: { ok: false, error: toWireError(err) } })
    }
  }

  /** The peer is gone (died, new link session): nothing in flight will be answered, either way. */
  failAll(err: Error): void {
    this.failCalls(err)
    for (const id of [...this.serving.keys()]) this.endServing(id, err)
  }

  /**
   * Rejects our calls in flight; what we serve goes on. With `onlyWithoutDeadline`, calls that have
   * a deadline keep waiting for it (their message is queued and may still be delivered).
   */
  failCalls(err: Error, onlyWithoutDeadline = false): void {
    for (const [id, entry] of [...this.pending.entries()]) {
      if (onlyWithoutDeadline && entry.deadline !== NO_DEADLINE) continue
      this.settle(id)
      this.deliver(entry, false, err)
    }
  }

  /**
   * Runs the handler. Most requests (evals) are answered in the same task: they are answered at once
   * and never registered. Only a handler that returns a promise is tracked, so that a cancel, the
   * deadline or the peer's loss can end it.
   */
  private serve(id: number, kind: string, data: Record<string, unknown>, deadline: Deadline): void {
    if (!this.handler) return this.refuse(id)
    if (this.serving.has(id)) this.endServing(id, new AbortedError('superseded by a request with the same id'))
    const state = new Serving(deadline)
    let result: unknown
    try {
      result = this.handler(kind, data, state)
    } catch (err) {
      state.done = true
      return this.respondError(id, err)
    }
    if (isThenable(result)) return this.track(id, state, result)
    state.done = true
    this.respond(id, { ok: true, value: result })
  }

  /** A handler that returned a promise: answered when it settles, unless the request ended first. */
  private track(id: number, state: Serving, result: PromiseLike<unknown>): void {
    this.serving.set(id, state)
    this.serveDeadlines.watch(state.deadline)
    const finish = (outcome: Outcome) => {
      if (state.done) return
      state.done = true
      this.serving.delete(id)
      this.respond(id, outcome)
    }
    result.then(
      (value) => finish({ ok: true, value }),
      (err: unknown) => finish({ ok: false, error: toWireError(err) }),
    )
  }

  private refuse(id: number): void {
    this.respondError(id, new ProtocolError(`${this.peer.name} sent a request, but this side serves none`, 'UNKNOWN_OP'))
  }

  private respondError(id: number, err: unknown): void {
    this.respond(id, { ok: false, error: toWireError(err) })
  }

  /** A request stops being served (cancelled, expired, peer gone): its signal aborts, nothing is answered. */
  private endServing(id: number, reason: Error): void {
    const state = this.serving.get(id)
    if (!state) return
    this.serving.delete(id)
    state.end(reason)
  }

  private expireCall(id: number): void {
    const entry = this.pending.get(id)
    if (!entry || !this.settle(id)) return
    this.withdraw(entry)
    this.postQuietly({ v: PROTOCOL_VERSION, op: Ops.CANCEL, id })
    this.deliver(entry, false, this.timeoutError(this.describe(entry), entry.deadline - entry.sentAt))
  }

  /** A request still queued when its caller gives up is taken back, so it is never acted on late. */
  private withdraw(entry: Pending): void {
    if (entry.token === undefined || !this.peer.withdraw) return
    try {
      this.peer.withdraw(entry.token)
    } catch {
      // best effort: the cancel that follows covers a request already delivered
    }
  }

  private describe(entry: Pending): string {
    return entry.describe || `${entry.kind} to ${this.peer.name}`
  }

  /** A result that cannot be sent (too large, say) is answered with the reason instead. */
  private respond(id: number, outcome: Outcome): void {
    try {
      this.peer.post({ v: PROTOCOL_VERSION, op: Ops.RESPONSE, id, d: outcome })
    } catch (err) {
      if (outcome.ok) this.postQuietly({ v: PROTOCOL_VERSION, op: Ops.RESPONSE, id, d: { ok: false, error: toWireError(err) } })
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
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort)
    return true
  }

  private timeoutError(describe: string, ms: number): Error {
    if (this.peer.reachable && !this.peer.reachable() && this.peer.unreachableError) {
      return this.peer.unreachableError(`${describe} could not be delivered within ${Math.round(ms)} ms`)
    }
    return new TimeoutError(`${describe} got no answer within ${Math.round(ms)} ms`)
  }

  private malformed(what: string): true {
    this.peer.onProtocolError?.(new ProtocolError(`${this.peer.name}: ${what}`, 'MALFORMED_MESSAGE'))
    return true
  }
}

function newEntry(kind: string, opts: CallOptions, sink: CallSink | null, tag: number): Pending {
  return { resolve: unset, reject: unset, sink, tag, deadline: opts.deadline ?? NO_DEADLINE, sentAt: 0, kind, describe: opts.describe ?? '', signal: opts.signal, onAbort: null, token: undefined }
}

function validId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id > 0 && id <= MAX_ID
}

/** A promise, or anything `await` would wait for. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as PromiseLike<unknown>).then === 'function'
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

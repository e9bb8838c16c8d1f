/**
 * Requests over a machine link: `{ t: 'req', id, d }` answered by `{ t: 'res', id, d: Outcome }`,
 * and `{ t: 'cancel', id }` to abort one. The link delivers each message exactly once across
 * reconnects, so a request only fails when its own timeout passes: with LinkLostError if the link
 * was down at that moment (it could not be delivered), TimeoutError otherwise.
 */
import { AbortedError, LinkLostError, TimeoutError } from '../errors.js'
import type { Outcome } from '../ipc/envelope.js'
import { toWireError } from '../ipc/values.js'
import { fromWireError } from '../ipc/wire-errors.js'

export interface LinkLike {
  send(msg: unknown): void
  readonly up: boolean
}

export type RpcHandler = (kind: string, d: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>

interface Pending {
  resolve(v: unknown): void
  reject(e: Error): void
  timer: NodeJS.Timeout | null
}

export class LinkRpc {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly serving = new Map<number, AbortController>()

  constructor(
    private readonly link: LinkLike,
    private readonly peer: string,
    private readonly handler: RpcHandler,
  ) {}

  /** `timeoutMs` 0: wait for as long as it takes (identify turns wait out a parent restart). */
  call(kind: string, d: Record<string, unknown>, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(new AbortedError(`${kind} was cancelled`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const entry: Pending = { resolve, reject, timer: null }
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id)
          reject(
            this.link.up
              ? new TimeoutError(`${kind} to ${this.peer} got no answer within ${timeoutMs} ms`)
              : new LinkLostError(this.peer, `${kind} to ${this.peer} could not be delivered within ${timeoutMs} ms: the link is down`),
          )
        }, timeoutMs)
        entry.timer.unref()
      }
      signal?.addEventListener(
        'abort',
        () => {
          if (!this.pending.delete(id)) return
          if (entry.timer) clearTimeout(entry.timer)
          this.send({ t: 'cancel', id })
          reject(new AbortedError(`${kind} was cancelled`))
        },
        { once: true },
      )
      this.pending.set(id, entry)
      this.send({ t: 'req', id, d: { kind, ...d } })
    })
  }

  /** Handles req/res/cancel; returns false for other messages. */
  handle(msg: { t?: unknown; id?: unknown; d?: unknown }): boolean {
    const id = msg.id as number
    switch (msg.t) {
      case 'req':
        void this.serve(id, msg.d as Record<string, unknown>)
        return true
      case 'res': {
        const entry = this.pending.get(id)
        if (!entry) return true
        this.pending.delete(id)
        if (entry.timer) clearTimeout(entry.timer)
        const outcome = msg.d as Outcome
        if (outcome.ok) entry.resolve(outcome.value)
        else entry.reject(fromWireError(outcome.error, { machine: this.peer }))
        return true
      }
      case 'cancel':
        this.serving.get(id)?.abort()
        return true
      default:
        return false
    }
  }

  /** The peer's session ended: nothing in flight will be answered. */
  failAll(err: Error): void {
    for (const [id, entry] of this.pending) {
      if (entry.timer) clearTimeout(entry.timer)
      entry.reject(err)
      this.pending.delete(id)
    }
    for (const abort of this.serving.values()) abort.abort()
    this.serving.clear()
  }

  private async serve(id: number, d: Record<string, unknown>): Promise<void> {
    const abort = new AbortController()
    this.serving.set(id, abort)
    let outcome: Outcome
    try {
      outcome = { ok: true, value: await this.handler(d.kind as string, d, abort.signal) }
    } catch (err) {
      outcome = { ok: false, error: toWireError(err) }
    }
    this.serving.delete(id)
    if (!abort.signal.aborted) this.send({ t: 'res', id, d: outcome })
  }

  /** A link closed for good refuses sends; what was in flight is failed by failAll, so drop it. */
  send(msg: unknown): void {
    try {
      this.link.send(msg)
    } catch {
      // closed
    }
  }
}

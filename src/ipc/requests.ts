/**
 * Tracks requests in flight on one hop: unique ids, a timeout per request (0 = none, for identify
 * grants that may legitimately wait minutes), and bulk rejection when the peer dies, so every
 * request settles exactly once.
 */
import { TimeoutError } from '../errors.js'

interface Pending<T> {
  resolve(value: T): void
  reject(err: Error): void
  timer?: NodeJS.Timeout
  tag: unknown
  describe: string
}

export class RequestTracker<T = unknown> {
  private nextId = 1
  private readonly pending = new Map<number, Pending<T>>()

  get size(): number {
    return this.pending.size
  }

  /**
   * Registers a request and returns its id and promise. `tag` lets callers reject every request
   * bound to one peer at once (see rejectWhere).
   */
  create(opts: { timeoutMs: number; tag?: unknown; describe: string }): { id: number; promise: Promise<T> } {
    const id = this.nextId
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1
    const promise = new Promise<T>((resolve, reject) => {
      const entry: Pending<T> = { resolve, reject, tag: opts.tag, describe: opts.describe }
      if (opts.timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id)
          reject(new TimeoutError(`${opts.describe} got no answer within ${opts.timeoutMs} ms`))
        }, opts.timeoutMs)
        entry.timer.unref?.()
      }
      this.pending.set(id, entry)
    })
    return { id, promise }
  }

  has(id: number): boolean {
    return this.pending.has(id)
  }

  resolve(id: number, value: T): boolean {
    const entry = this.take(id)
    if (!entry) return false
    entry.resolve(value)
    return true
  }

  reject(id: number, err: Error): boolean {
    const entry = this.take(id)
    if (!entry) return false
    entry.reject(err)
    return true
  }

  /** Rejects every request whose tag matches, e.g. all requests sent to an instance that died. */
  rejectWhere(match: (tag: unknown) => boolean, makeError: (describe: string) => Error): number {
    let n = 0
    for (const [id, entry] of this.pending) {
      if (!match(entry.tag)) continue
      this.take(id)
      entry.reject(makeError(entry.describe))
      n++
    }
    return n
  }

  rejectAll(makeError: (describe: string) => Error): number {
    return this.rejectWhere(() => true, makeError)
  }

  private take(id: number): Pending<T> | undefined {
    const entry = this.pending.get(id)
    if (!entry) return undefined
    this.pending.delete(id)
    if (entry.timer) clearTimeout(entry.timer)
    return entry
  }
}

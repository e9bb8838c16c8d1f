/**
 * The manager's half of discord.js's ShardClientUtil protocol, so a bot written for discord.js's
 * own ShardingManager runs unmodified: `_ready`/`_disconnect`/`_reconnecting`/`_resume` reports,
 * child-initiated `_sEval`/`_sFetchProp`/`_sRespawnAll`, and manager-initiated `_eval`/`_fetchProp`.
 * discord.js answers by script text, not by id, so identical concurrent calls are matched in order.
 * Calls follow the request layer's rules: a deadline, cancellation, and no entry left behind.
 */
import { AbortedError, InstanceDiedError, RemoteError, TimeoutError } from '../errors.js'
import { deserializeValue, serializeValue } from '../ipc/values.js'
import { deadlineIn, NO_DEADLINE } from '../rpc/deadline.js'
import type { CallContext, CallScope } from '../rpc/endpoint.js'
import { monotonicNow } from '../util/clock.js'

export interface DjsBridgeHost {
  readonly id: number
  send(msg: unknown): boolean
  shardEvent(state: 'ready' | 'disconnected' | 'reconnecting' | 'resumed'): void
  /** Runs a broadcast from the bot; resolves with plain values (one, or one per instance). */
  broadcast(action: Record<string, unknown>, shard: number | undefined, ctx: CallContext): Promise<unknown>
  respawnAll(): void
  /** discord.js's own calls carry no deadline; they get this one, ms. */
  readonly defaultTimeout: number
}

interface Waiter {
  resolve(v: unknown): void
  reject(e: Error): void
  timer: NodeJS.Timeout | null
  cleanup(): void
}

export class DjsBridge {
  /** True once the instance spoke discord.js's protocol: it has a ShardClientUtil. */
  seen = false
  /** Waiters per script, in call order; a key exists only while someone waits on it. */
  private readonly waiting = new Map<string, Waiter[]>()

  constructor(private readonly host: DjsBridgeHost) {}

  get pending(): number {
    let n = 0
    for (const list of this.waiting.values()) n += list.length
    return n
  }

  /** Handles a `_`-keyed message; false if it is not part of discord.js's protocol. */
  handle(msg: Record<string, unknown>): boolean {
    if (msg._ready) return this.report('ready')
    if (msg._disconnect) return this.report('disconnected')
    if (msg._reconnecting) return this.report('reconnecting')
    if (msg._resume) return this.report('resumed')
    if ('_sEval' in msg) {
      this.seen = true
      const shard = typeof msg._sEvalShard === 'number' ? msg._sEvalShard : undefined
      this.answer({ type: 'script', script: String(msg._sEval) }, shard, { _sEval: msg._sEval, _sEvalShard: msg._sEvalShard })
      return true
    }
    if ('_sFetchProp' in msg) {
      this.seen = true
      const shard = typeof msg._sFetchPropShard === 'number' ? msg._sFetchPropShard : undefined
      this.answer({ type: 'fetch', prop: String(msg._sFetchProp) }, shard, { _sFetchProp: msg._sFetchProp, _sFetchPropShard: msg._sFetchPropShard })
      return true
    }
    if ('_sRespawnAll' in msg) {
      this.seen = true
      this.host.respawnAll()
      return true
    }
    // Instances only ever answer `_eval` / `_fetchProp`; a result of undefined loses its `_result`
    // key in JSON (process mode), so the key alone is the answer.
    if ('_eval' in msg) return this.settle(`e:${String(msg._eval)}`, msg)
    if ('_fetchProp' in msg) return this.settle(`f:${String(msg._fetchProp)}`, msg)
    return false
  }

  /** Runs a script in the instance through discord.js's `_eval`; resolves with a serialized value. */
  evalScript(script: string, scope: CallScope): Promise<unknown> {
    return this.ask(`e:${script}`, { _eval: script }, scope)
  }

  fetchProp(prop: string, scope: CallScope): Promise<unknown> {
    return this.ask(`f:${prop}`, { _fetchProp: prop }, scope)
  }

  rejectAll(err: Error): void {
    for (const key of [...this.waiting.keys()]) {
      for (const w of this.waiting.get(key) ?? []) this.take(key, w)?.reject(err)
    }
  }

  private report(state: 'ready' | 'disconnected' | 'reconnecting' | 'resumed'): boolean {
    this.seen = true
    this.host.shardEvent(state)
    return true
  }

  private answer(action: Record<string, unknown>, shard: number | undefined, keys: Record<string, unknown>): void {
    const ctx: CallContext = { deadline: deadlineIn(this.host.defaultTimeout), signal: new AbortController().signal }
    this.host.broadcast(action, shard, ctx).then(
      (result) => this.host.send({ ...keys, _result: result }),
      (err: Error) => this.host.send({ ...keys, _error: asDiscordJsError(err) }),
    )
  }

  private ask(key: string, msg: Record<string, unknown>, scope: CallScope): Promise<unknown> {
    const { deadline, signal } = scope
    if (signal?.aborted) return Promise.reject(new AbortedError('the discord.js eval was cancelled'))
    return new Promise((resolve, reject) => {
      const onAbort = () => this.take(key, waiter)?.reject(new AbortedError('the discord.js eval was cancelled'))
      const waiter: Waiter = { resolve, reject, timer: null, cleanup: () => signal?.removeEventListener('abort', onAbort) }
      if (deadline !== NO_DEADLINE) {
        const ms = Math.max(0, deadline - monotonicNow())
        waiter.timer = setTimeout(() => {
          this.take(key, waiter)?.reject(new TimeoutError(`instance ${this.host.id} did not answer a discord.js eval within ${Math.round(ms)} ms`))
        }, ms)
        waiter.timer.unref()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const list = this.waiting.get(key)
      if (list) list.push(waiter)
      else this.waiting.set(key, [waiter])
      if (!this.host.send(msg)) this.take(key, waiter)?.reject(new InstanceDiedError(this.host.id))
    })
  }

  private settle(key: string, msg: Record<string, unknown>): boolean {
    const first = this.waiting.get(key)?.[0]
    const waiter = first && this.take(key, first)
    if (!waiter) return true
    if ('_error' in msg && msg._error) {
      const e = msg._error as { name?: string; message?: string; stack?: string }
      waiter.reject(new RemoteError(e.name ?? 'Error', e.message ?? '', e.stack))
    } else {
      // discord.js sends plain JSON-able results; serialize them so every path decodes the same way.
      waiter.resolve(serializeValue(msg._result))
    }
    return true
  }

  /** Removes a waiter (and its key once empty); returns it if it was still waiting. */
  private take(key: string, waiter: Waiter): Waiter | null {
    const list = this.waiting.get(key)
    const i = list ? list.indexOf(waiter) : -1
    if (!list || i < 0) return null
    list.splice(i, 1)
    if (list.length === 0) this.waiting.delete(key)
    if (waiter.timer) clearTimeout(waiter.timer)
    waiter.cleanup()
    return waiter
  }
}

/**
 * What discord.js rebuilds into the Error its call rejects with (`makeError`: name, message, stack).
 * An error thrown by the eval keeps the thrower's name (`TypeError`, …), as under discord.js's manager.
 */
function asDiscordJsError(err: Error): { name: string; message: string; stack?: string } {
  if (err instanceof RemoteError) return { name: err.remoteName, message: err.message, stack: err.remoteStack ?? err.stack }
  return { name: err.name, message: err.message, stack: err.stack }
}

/** discord.js's broadcastEval script for a function and a JSON context. */
export function djsScript(fn: string, encodedContext: unknown): string {
  return `(${fn})(this, ${JSON.stringify(deserializeValue(encodedContext)) ?? 'undefined'})`
}

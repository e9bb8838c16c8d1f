/**
 * The manager's half of discord.js's ShardClientUtil protocol, so a bot written for discord.js's
 * own ShardingManager runs unmodified: `_ready`/`_disconnect`/`_reconnecting`/`_resume` reports,
 * child-initiated `_sEval`/`_sFetchProp`/`_sRespawnAll`, and manager-initiated `_eval`/`_fetchProp`
 * (which discord.js matches by script text, so identical concurrent calls are answered in order).
 */
import { InstanceDiedError, RemoteError, TimeoutError } from '../errors.js'
import { decodeValue, encodeValue } from '../ipc/values.js'

export interface DjsBridgeHost {
  readonly id: number
  send(msg: unknown): boolean
  shardEvent(state: 'ready' | 'disconnected' | 'reconnecting' | 'resumed'): void
  /** Runs a broadcast from the bot; resolves with plain values (one, or one per instance). */
  broadcast(action: Record<string, unknown>, shard: number | undefined): Promise<unknown>
  respawnAll(): void
}

interface Waiter {
  resolve(v: unknown): void
  reject(e: Error): void
  timer: NodeJS.Timeout
}

export class DjsBridge {
  /** True once the instance spoke discord.js's protocol: it has a ShardClientUtil. */
  seen = false
  private readonly evals = new Map<string, Waiter[]>()

  constructor(private readonly host: DjsBridgeHost) {}

  /** Handles a `_`-keyed message; false if it is not part of discord.js's protocol. */
  handle(msg: Record<string, unknown>): boolean {
    if (msg._ready) return this.report('ready')
    if (msg._disconnect) return this.report('disconnected')
    if (msg._reconnecting) return this.report('reconnecting')
    if (msg._resume) return this.report('resumed')
    if ('_sEval' in msg) {
      this.seen = true
      const script = msg._sEval as string
      const shard = msg._sEvalShard as number | undefined
      this.answer({ type: 'script', script }, shard, { _sEval: script, _sEvalShard: shard })
      return true
    }
    if ('_sFetchProp' in msg) {
      this.seen = true
      const prop = msg._sFetchProp as string
      const shard = msg._sFetchPropShard as number | undefined
      this.answer({ type: 'fetch', prop }, shard, { _sFetchProp: prop, _sFetchPropShard: shard })
      return true
    }
    if ('_sRespawnAll' in msg) {
      this.seen = true
      this.host.respawnAll()
      return true
    }
    // Instances only ever answer `_eval` / `_fetchProp`; a result of undefined loses its `_result`
    // key in JSON (process mode), so the key alone is the answer.
    if ('_eval' in msg) return this.settle(`e:${msg._eval}`, msg)
    if ('_fetchProp' in msg) return this.settle(`f:${msg._fetchProp}`, msg)
    return false
  }

  /** Runs a script in the instance through discord.js's `_eval`; resolves with an encoded value. */
  evalScript(script: string, timeoutMs: number): Promise<unknown> {
    return this.ask(`e:${script}`, { _eval: script }, timeoutMs)
  }

  fetchProp(prop: string, timeoutMs: number): Promise<unknown> {
    return this.ask(`f:${prop}`, { _fetchProp: prop }, timeoutMs)
  }

  rejectAll(err: Error): void {
    for (const waiters of this.evals.values()) {
      for (const w of waiters) {
        clearTimeout(w.timer)
        w.reject(err)
      }
    }
    this.evals.clear()
  }

  private report(state: 'ready' | 'disconnected' | 'reconnecting' | 'resumed'): boolean {
    this.seen = true
    this.host.shardEvent(state)
    return true
  }

  private answer(action: Record<string, unknown>, shard: number | undefined, keys: Record<string, unknown>): void {
    this.host.broadcast(action, shard).then(
      (result) => this.host.send({ ...keys, _result: result }),
      (err: Error) => this.host.send({ ...keys, _error: { name: err.name, message: err.message, stack: err.stack } }),
    )
  }

  private ask(key: string, msg: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const waiters = this.evals.get(key) ?? []
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const list = this.evals.get(key)
          const i = list?.indexOf(waiter) ?? -1
          if (list && i >= 0) list.splice(i, 1)
          reject(new TimeoutError(`instance ${this.host.id} did not answer a discord.js eval within ${timeoutMs} ms`))
        }, timeoutMs),
      }
      waiters.push(waiter)
      this.evals.set(key, waiters)
      if (!this.host.send(msg)) {
        waiters.pop()
        clearTimeout(waiter.timer)
        reject(new InstanceDiedError(this.host.id))
      }
    })
  }

  private settle(key: string, msg: Record<string, unknown>): boolean {
    const waiter = this.evals.get(key)?.shift()
    if (!waiter) return true
    clearTimeout(waiter.timer)
    if ('_error' in msg && msg._error) {
      const e = msg._error as { name?: string; message?: string; stack?: string }
      waiter.reject(new RemoteError(e.name ?? 'Error', e.message ?? '', e.stack))
    } else {
      // discord.js sends plain JSON-able results; encode them so every path decodes the same way.
      waiter.resolve(encodeValue(msg._result))
    }
    return true
  }
}

/** discord.js's broadcastEval script for a function and a JSON context. */
export function djsScript(fn: string, encodedContext: unknown): string {
  return `(${fn})(this, ${JSON.stringify(decodeValue(encodedContext)) ?? 'undefined'})`
}

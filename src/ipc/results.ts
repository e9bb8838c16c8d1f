/**
 * Turns fan-out entries into what the caller asked for: plain values (rejecting on the first
 * failure, like discord.js), one value for a single target, or every entry with its error when
 * `allowPartial` is set.
 */
import { fromWireError } from './wire-errors.js'
import type { FanoutEntry } from './targets.js'
import { deserializeValue } from './values.js'

export interface PartialResult<T = unknown> {
  instance: number
  machine: string
  shards: number[]
  ok: boolean
  value?: T
  error?: Error
}

/**
 * `bare`: a failure keeps the thrower's own message, without the instance it came from: what
 * discord.js's `client.shard.*` calls reject with (the bridge answers them as discord.js would).
 */
export function finishFanout(entries: FanoutEntry[], opts: { single: boolean; allowPartial: boolean; bare?: boolean }): unknown {
  if (opts.allowPartial) {
    const out: PartialResult[] = entries.map((e) => ({
      instance: e.instance,
      machine: e.machine,
      shards: [...e.shards],
      ok: e.ok,
      ...(e.ok ? { value: deserializeValue(e.value) } : { error: entryError(e) }),
    }))
    return opts.single ? out[0] : out
  }
  const failed = entries.find((e) => !e.ok)
  if (failed) throw entryError(failed, !opts.bare)
  const values = entries.map((e) => deserializeValue(e.value))
  return opts.single ? values[0] : values
}

/** A failed entry as an error; `named`: its message starts with the instance it came from. */
function entryError(e: FanoutEntry, named = true): Error {
  const w = e.error ?? { name: 'Error', message: 'unknown failure' }
  return fromWireError(w, { instance: e.instance, machine: e.machine, ...(named ? { prefix: `instance ${e.instance} (${e.machine})` } : {}) })
}

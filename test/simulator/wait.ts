import type { EventEmitter } from 'node:events'

/** Resolves with the first `event` whose argument matches `match` (no sleeping, no polling). */
export function waitForEvent<T>(emitter: EventEmitter<any>, event: string, match: (arg: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const listener = (arg: T): void => {
      if (!match(arg)) return
      emitter.off(event, listener)
      resolve(arg)
    }
    emitter.on(event, listener)
  })
}

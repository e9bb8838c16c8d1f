/** Small helpers for work that must end when its AbortSignal aborts. */
import { AbortedError } from '../errors.js'

/**
 * Settles with `work`, or rejects with the signal's reason as soon as it aborts. The work itself
 * goes on (an eval cannot be interrupted), but nothing waits for it any more.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal))
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new AbortedError()
}

/** Waiting on long operations (respawn, rolling restart) under a caller's deadline and signal. */
import { TimeoutError } from '../errors.js'
import { untilAborted } from './abort.js'
import { NO_DEADLINE, remainingMs } from './deadline.js'
import type { CallScope } from './endpoint.js'

/**
 * Settles with `work`, or rejects when the scope's deadline passes (TimeoutError) or its signal
 * aborts. The operation itself goes on: a respawn that outlives its caller still completes.
 */
export function withDeadline<T>(work: Promise<T>, scope: CallScope, what: string): Promise<T> {
  const abort = new AbortController()
  const onOuter = () => abort.abort(scope.signal?.reason)
  if (scope.signal?.aborted) abort.abort(scope.signal.reason)
  scope.signal?.addEventListener('abort', onOuter, { once: true })
  let timer: NodeJS.Timeout | null = null
  if (scope.deadline !== NO_DEADLINE) {
    const ms = remainingMs(scope.deadline)
    timer = setTimeout(() => abort.abort(new TimeoutError(`${what} did not finish within ${Math.round(ms)} ms`)), ms)
    timer.unref()
  }
  return untilAborted(work, abort.signal).finally(() => {
    if (timer) clearTimeout(timer)
    scope.signal?.removeEventListener('abort', onOuter)
  })
}

/**
 * Gives an instance's eval path (the call of the eval function, the value codec on both sides of
 * it) type feedback for every kind of value before the first real request.
 *
 * Why: V8 compiles that path for what it has seen. An instance that has answered thousands of evals
 * with numbers has it compiled for numbers, with the last eval function inlined into it. The first
 * eval that returns an array or a string, or is another function, throws that code away, in every
 * instance at once, and the path is then recompiled piece by piece over the next ~150 calls. Each of
 * those compiles is a slow call on a machine with fewer cores than instances (BENCHMARKS.md, "ids
 * p99 after the eval path is primed"). Primed, the path is optimized once with every kind of value in
 * its feedback, and the call site has seen several functions, so V8 never inlines one eval function
 * into it: a new function or a new kind of result changes nothing that was compiled.
 *
 * Runs once per instance, when it reports ready (InstanceRuntime.reportReady): 6,600 evals of trivial
 * functions, 9-15 ms, during which V8 optimizes the path. Nothing is sent. The functions take up
 * PRIMING_FUNCTIONS.length places in the compiled-function cache (src/runtime/evaluate.ts), out of 256.
 */
import { serializeValue } from '../ipc/values.js'

/**
 * How often each value goes through: enough that V8 optimizes the path during the priming, before the
 * first request. Fewer rounds gave the functions feedback but only made them hot, so their compiles
 * landed in the first calls after ready instead (50 rounds: the p99 of the first 3,000 calls 0.1-0.4 ms
 * worse in alternating runs; BENCHMARKS.md). V8 gives a function its feedback vector only after it has
 * run for a while (lazy feedback allocation), so a value seen once would not even be remembered.
 */
export const PRIMING_ROUNDS = 300

/** One of every kind of result the codec tells apart: plain values, containers, tagged values. */
const PRIMING_VALUES: readonly unknown[] = [
  0,
  1.5,
  'text',
  true,
  null,
  undefined,
  // arrays of every kind V8 stores apart (small integers, doubles, anything; with holes or not): each
  // is another map at the codec's walk of an array
  [1, 'a'],
  ['x', 'y', 'z'],
  [1, 2, 3],
  [0.5, 1.5],
  // eslint-disable-next-line no-sparse-arrays
  [1, , 3],
  // eslint-disable-next-line no-sparse-arrays
  [0.5, , 1.5],
  // eslint-disable-next-line no-sparse-arrays
  ['a', , 'b'],
  // a long one, so that the value check's walk of a container (recursive, never inlined whole) is
  // hot on its own and optimized now, not in the first calls that return a long list
  Array.from({ length: 32 }, (_, i) => String(i)),
  // objects of more shapes than V8 keeps apart at one property access, so that the codec's walk of an
  // object is generic from the start and a bot's own objects (or ours: status reports) do not undo it
  { a: 1, b: 'x' },
  { id: '1', name: 'n', count: 2 },
  { nested: { deeper: { value: true } } },
  { x: 0, y: 0, z: 0, w: 0 },
  { list: [], map: {} },
  [{ a: [1, null] }],
  new Map([[1, 2]]),
  { at: new Date(0) },
]

/**
 * More functions than V8 keeps apart at one call site (4): the call of the eval function becomes
 * generic. Each returns its context, so every value above comes back as a result too.
 */
export const PRIMING_FUNCTIONS: readonly string[] = [
  '(client, context) => context',
  '(c, x) => x',
  '(_, value) => value',
  '(a, b) => b',
  'function (client, context) { return context }',
  '(client, context) => { return context }',
  '(p, q) => (p, q)',
]

/** One eval request's data, as the manager sends it. */
export interface PrimingCall {
  fn: string
  context: unknown
}

/**
 * Runs every value through `runEval` (the instance's own eval path, with the context serialized as
 * the manager sends it), PRIMING_ROUNDS times. Returns how many calls it made. A call that throws
 * ends the priming: it only makes later calls faster, and must never stop an instance from starting.
 */
export function primeEvalPath(runEval: (call: PrimingCall) => unknown): number {
  let calls = 0
  try {
    for (let round = 0; round < PRIMING_ROUNDS; round++) {
      for (let i = 0; i < PRIMING_VALUES.length; i++) {
        // serialized each time, as the manager does: the codec's walk is on the path too
        runEval({ fn: PRIMING_FUNCTIONS[(round + i) % PRIMING_FUNCTIONS.length]!, context: serializeValue(PRIMING_VALUES[i]) })
        calls++
      }
    }
  } catch {
    // (see above: an optimization only)
  }
  return calls
}

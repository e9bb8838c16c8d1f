/**
 * Runs broadcastEval code inside an instance. Functions arrive as source text (closures are lost,
 * which is why `context` exists); they are compiled in the global scope, never in ours.
 */
/** Runs a broadcastEval function; its result, or a promise of it when the function is async. */
export function runFunction(source: string, target: unknown, context: unknown): unknown {
  const fn = compile(source)
  if (typeof fn !== 'function') throw new TypeError('broadcastEval expects a function; got ' + typeof fn)
  return (fn as (t: unknown, c: unknown) => unknown)(target, context)
}

/** A discord.js `_sEval`/`_eval` script: an expression that uses `this` as the client. */
export async function runScript(script: string, target: unknown): Promise<unknown> {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return await new Function(`return (${script});`).call(target)
}

/**
 * Reads a dotted property path (`guilds.cache.size`) like discord.js's fetchClientValues: the last
 * property may be undefined, but a path through a missing one (a typo, `user.id` before login) is a
 * TypeError, as it is there, so it is not mistaken for a value.
 */
export function readPath(target: unknown, path: string): unknown {
  let value: unknown = target
  const keys = path.split('.')
  for (let i = 0; i < keys.length; i++) {
    if (value === null || value === undefined) {
      const read = i === 0 ? 'the client' : `client.${keys.slice(0, i).join('.')}`
      throw new TypeError(`fetchClientValues('${path}'): ${read} is ${value}, so it has no '${keys[i]}'`)
    }
    value = (value as Record<string, unknown>)[keys[i]!]
  }
  return value
}

/**
 * Compiled functions by source text: the same broadcastEval is usually sent again and again, and
 * compiling costs more than the call. Bounded, oldest out first.
 */
const compiled = new Map<string, unknown>()
const MAX_COMPILED = 256

function compile(source: string): unknown {
  let fn = compiled.get(source)
  if (fn === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    fn = new Function(`return (${source});`)()
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!)
    compiled.set(source, fn)
  }
  return fn
}

/**
 * PROCESSES mode: V8 flags that only tune speed (the young generation's growth factor,
 * src/modes/young-generation.ts) are set by the preloaded runtime, not given on the command line.
 *
 * Why: Node compiles its own built-in modules (`http`, `tls`, `zlib`, ...) from the code cache embedded
 * in its binary only while every V8 flag has its default value; with any V8 flag on the command line,
 * every built-in module the instance loads is compiled from source instead (`NODE_DEBUG_NATIVE=CODE_CACHE`
 * shows them "rejected"), ~50 ms of CPU per discord.js boot. Set at run time, the flag still shapes
 * the young generation while the bot loads (where its gain comes from), and the built-in modules
 * that discord.js is going to load are loaded first, while the cache is still used. Modules loaded
 * after that are compiled from source, as before; a client file whose project has no discord.js gets
 * the flag at once, with nothing loaded first.
 *
 * A flag this V8 does not know is reported by V8 on stderr ("unrecognized flag") and changes nothing;
 * the instance boots as without it.
 */

/**
 * The built-in modules that `require('discord.js')` loads (v14; test/integration/v8-tuning.test.ts
 * checks each installed discord.js version still loads every one of them).
 */
export const DISCORDJS_BUILTINS = ['assert', 'dns', 'fs/promises', 'http', 'http2', 'https', 'net', 'perf_hooks', 'timers/promises', 'tls', 'util/types', 'worker_threads', 'zlib'] as const

export interface V8TuningDeps {
  /** `v8.setFlagsFromString`. */
  setFlags(flags: string): void
  /** Loads a built-in module (`require`). */
  load(id: string): unknown
  /** Whether the client file's project resolves discord.js. */
  usesDiscordJs(): boolean
}

/**
 * Sets `flags` (none: nothing happens), after loading discord.js's built-in modules when the client
 * file's project has discord.js. Returns the built-in modules it loaded first.
 */
export function applyV8Tuning(flags: readonly string[], deps: V8TuningDeps): string[] {
  if (flags.length === 0) return []
  const first = deps.usesDiscordJs() ? [...DISCORDJS_BUILTINS] : []
  for (const id of first) deps.load(id)
  // The global fetch is Node's own undici, loaded on first access: discord.js's REST client uses it.
  if (first.length > 0) void (globalThis as { fetch?: unknown }).fetch
  deps.setFlags(flags.join(' '))
  return first
}

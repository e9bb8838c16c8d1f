/**
 * Adapts an unmodified discord.js v14 bot (written for discord.js's own ShardingManager) from the
 * runtime that is loaded before the bot's file: when discord.js is loaded (CommonJS `require` or ESM
 * `import`, which loads discord.js through the same CommonJS loader), the first Client that logs in
 * with this instance's shards gets the same hooks `sharding.attach(client)` installs
 * (discordjs-hooks.ts): identify turns from the manager's authority, sessions in the manager's
 * store, per-shard reports, fatal close detection and shard status. The instance then tells the
 * manager it has a bot client, so evals reach the client through our request protocol.
 *
 * Anything unexpected (adaptation turned off, not discord.js v14, an internal that moved, a client
 * for other shards) leaves the bot exactly as it was and says why in the manager's `debug` event;
 * the manager's start gate then sees a bot that throttles itself and starts instances in waves.
 */
import Module from 'node:module'
import { Ops } from '../ipc/envelope.js'
import type { InstanceContext } from './context.js'
import { hookDiscordJs, isHooked, type DiscordJsPort } from './discordjs-hooks.js'
import { clientProblems, exportsProblems, isDiscordJsExports } from './discordjs-internals.js'
import type { InstanceRuntime } from './instance-runtime.js'

/** `0` (or false/off/no) in the instance environment turns the adaptation off. */
export const ADAPT_ENV = 'DISCORDOO_ADAPT_DISCORDJS'
/** `1` (or true/on/yes): adapted clients RESUME handed-over sessions (like attach's `resume: true`). */
export const RESUME_ENV = 'DISCORDOO_DISCORDJS_RESUME'

const OFF = new Set(['0', 'false', 'off', 'no'])
const ON = new Set(['1', 'true', 'on', 'yes'])

type LoadFn = (request: string, parent: unknown, isMain: boolean) => unknown

/** Why the adaptation is off for this instance, or null when it is on. */
export function adaptationOff(context: Pick<InstanceContext, 'adaptDiscordJs'>, env: NodeJS.ProcessEnv): string | null {
  if (context.adaptDiscordJs === false) return 'manager option adaptDiscordJs: false'
  const value = env[ADAPT_ENV]
  if (value !== undefined && OFF.has(value.trim().toLowerCase())) return `${ADAPT_ENV}=${value}`
  return null
}

export function installDiscordJsAdapter(runtime: InstanceRuntime, env: NodeJS.ProcessEnv = process.env): void {
  const debug = (message: string) => runtime.post(Ops.DEBUG, { message })
  const off = adaptationOff(runtime.context, env)
  if (off) return debug(`discord.js adaptation is off (${off}); unless the bot calls sharding.attach(client), it throttles its own identifies`)
  const adapter = new Adapter(runtime, ON.has((env[RESUME_ENV] ?? '').trim().toLowerCase()), debug)
  const loader = Module as unknown as { _load: LoadFn }
  const load = loader._load
  const seen = new WeakSet<object>()
  loader._load = function loadAndWatch(this: unknown, ...args: Parameters<LoadFn>) {
    const exports = load.apply(this, args)
    if (isDiscordJsExports(exports) && !seen.has(exports)) {
      seen.add(exports)
      adapter.onDiscordJs(exports)
    }
    return exports
  }
}

class Adapter {
  /** The one client adapted in this instance. */
  private client: object | null = null

  constructor(
    private readonly runtime: InstanceRuntime,
    private readonly resume: boolean,
    private readonly debug: (message: string) => void,
  ) {}

  /** discord.js was loaded: wrap Client#login so each client is looked at before it connects. */
  onDiscordJs(djs: Record<string, unknown>): void {
    const version = String(djs.version)
    try {
      const problems = exportsProblems(djs)
      if (problems.length > 0) return this.debug(`discord.js ${version} is not adapted (${problems.join('; ')}); it throttles its own identifies`)
      const proto = (djs.Client as { prototype: { login: (...a: unknown[]) => unknown } }).prototype
      const login = proto.login
      const adapter = this
      proto.login = function loginAdapted(this: object, ...args: unknown[]) {
        adapter.onLogin(this, version)
        return login.apply(this, args)
      }
    } catch (err) {
      this.debug(`discord.js ${version} is not adapted: ${(err as Error)?.message ?? String(err)}`)
    }
  }

  private onLogin(client: object, version: string): void {
    try {
      this.adapt(client, version)
    } catch (err) {
      // Never break the bot's login: it runs unadapted.
      this.debug(`the discord.js ${version} client is not adapted: ${(err as Error)?.message ?? String(err)}`)
    }
  }

  private adapt(client: object, version: string): void {
    if (isHooked(client)) return // the bot called sharding.attach(client) itself, or logs in again
    const ctx = this.runtime.context
    if (this.client) return this.debug(`another discord.js client logged in; only the first one is adapted`)
    const problems = clientProblems(client)
    if (problems.length > 0) return this.debug(`discord.js ${version} is not adapted (${problems.join('; ')}); it throttles its own identifies`)
    const options = (client as { options: { shards?: unknown; shardCount?: unknown; ws: Record<string, unknown> } }).options
    const shards = options.shards
    if (!Array.isArray(shards) || !sameSet(shards, ctx.shards) || options.shardCount !== ctx.totalShards) {
      return this.debug(
        `a discord.js client for shards ${JSON.stringify(shards)} of ${String(options.shardCount)} logged in; this instance runs ${JSON.stringify(ctx.shards)} of ${ctx.totalShards}, so it is not adapted`,
      )
    }
    const ownThrottler = options.ws.buildIdentifyThrottler !== undefined
    this.client = client
    const hasShardingClient = this.runtime.hooks.target !== undefined
    hookDiscordJs(runtimePort(this.runtime), this.runtime.hooks, client, { resume: this.resume, onProblem: this.debug, gateway: ctx.gateway })
    this.runtime.hooks.target = client
    // raw: the bot has no ShardingClient, so manager.send() reaches it as discord.js's manager would.
    // identify: its identifies will wait for the manager's turns, so every instance may start now.
    this.runtime.post(Ops.ATTACHED, { target: 'bot', raw: !hasShardingClient, identify: !ownThrottler })
    this.debug(
      `adapted the discord.js ${version} client: ${ownThrottler ? 'it keeps its own ws.buildIdentifyThrottler (identifies not coordinated)' : 'identify turns from the manager'}, ` +
        `sessions stored (${this.resume ? 'a respawn RESUMEs them' : `a respawn identifies again; ${RESUME_ENV}=1 resumes`}), per-shard reports, status`,
    )
  }
}

/** The manager-facing side of the hooks for a bot without ShardingClient. */
function runtimePort(runtime: InstanceRuntime): DiscordJsPort {
  const ctx = runtime.context
  const ready = new Set<number>()
  let readySent = false
  return {
    shards: ctx.shards,
    sessions: ctx.sessions,
    reportShard(shardId, state, code) {
      runtime.post(Ops.SHARD, { shardId, state, ...(code !== undefined ? { code } : {}) })
      if (state !== 'ready' && state !== 'resumed') return
      ready.add(shardId)
      if (!readySent && ctx.shards.every((s) => ready.has(s))) {
        readySent = true
        runtime.reportReady()
      }
    },
    fatal(reason) {
      runtime.post(Ops.FATAL, { error: { name: 'FatalError', message: reason } })
    },
    reportSession: (shardId, session) => runtime.reportSession(shardId, session),
    identifyThrottler: () => ({
      waitForIdentify: (shardId, signal) => runtime.identifyTurn(shardId, signal),
    }),
    identifySent: (shardId) => runtime.post(Ops.IDENTIFY_SENT, { shardId, sentAt: Date.now() }),
    setStatusProvider(provider) {
      runtime.hooks.shardStatus = provider
    },
  }
}

function sameSet(a: unknown[], b: readonly number[]): boolean {
  return a.length === b.length && b.every((s) => a.includes(s))
}

/**
 * Answers what a bot asks of the manager tier: broadcasts (ours and discord.js's `_sEval`),
 * messages, requests to the manager, and respawnAll. The single-machine manager and the MACHINES
 * parent answer these; a child manager answers the ones that stay on its machine and forwards the
 * rest to its parent. Every call runs under the caller's deadline and signal.
 */
import { ShardingError } from '../errors.js'
import { finishFanout } from '../ipc/results.js'
import type { FanoutEntry, Target } from '../ipc/targets.js'
import { deserializeValue, serializeValue } from '../ipc/values.js'
import { untilAborted } from '../rpc/abort.js'
import type { CallContext, CallScope } from '../rpc/endpoint.js'
import type { InstanceAction } from './instance-channel.js'

/** Who sent a message or request: `{ instance, machine, shards }`. */
export interface Origin {
  instance: number
  machine: string
  shards: number[]
}

export interface IncomingManagerRequest {
  message: unknown
  from: Origin
  reply(value: unknown): void
  fail(error: unknown): void
  /** Aborts when the caller stops waiting (deadline, cancel, or it died). */
  signal: AbortSignal
}

export interface BotRequestContext {
  fanout(action: InstanceAction, target: Target, scope: CallScope, failFast?: boolean): Promise<FanoutEntry[]>
  rollingRestart(): Promise<void>
  emitEvent(name: string, ...args: unknown[]): void
  listenerCount(event: string): number
}

export async function answerBotRequest(ctx: BotRequestContext, origin: Origin, kind: string, d: Record<string, unknown>, call: CallContext): Promise<unknown> {
  switch (kind) {
    case 'broadcast':
      return ctx.fanout(d.action as InstanceAction, (d.target ?? {}) as Target, call, d.failFast === true)
    case 'djsBroadcast': {
      // discord.js expects plain values: one per instance, or one when it named a shard.
      const shard = typeof d.shard === 'number' ? d.shard : undefined
      const target: Target = shard === undefined ? {} : { shards: [shard] }
      // It rejects on the first failure, and answers at once: discord.js matches a reply to its call by
      // prop or script text only, so a late answer would settle the bot's next call with the same text.
      // A failure carries the thrower's own name and message, as under discord.js's manager.
      const entries = await ctx.fanout(d.action as InstanceAction, target, call, true)
      return finishFanout(entries, { single: shard !== undefined, allowPartial: false, bare: true })
    }
    case 'send': {
      if (!d.target) {
        ctx.emitEvent('message', deserializeValue(d.message), origin)
        return null
      }
      await ctx.fanout({ type: 'send', message: d.message, from: origin }, d.target as Target, call)
      return null
    }
    case 'managerRequest':
      return serializeValue(await askManager(ctx, origin, deserializeValue(d.message), call.signal))
    case 'respawnAll':
      ctx.rollingRestart().catch((err) => ctx.emitEvent('error', err))
      return null
    default:
      throw new ShardingError('UNKNOWN_OP', `unknown request ${JSON.stringify(kind)} from instance ${origin.instance}; are manager and bot on the same discordoo-sharding version?`)
  }
}

/** The manager's 'request' event; a listener that never replies holds the call only until its deadline. */
function askManager(ctx: BotRequestContext, origin: Origin, message: unknown, signal: AbortSignal): Promise<unknown> {
  if (ctx.listenerCount('request') === 0) {
    return Promise.reject(new ShardingError('NO_HANDLER', "the manager has no 'request' listener; add manager.on('request', req => req.reply(...))"))
  }
  const answered = new Promise((resolve, reject) => {
    const req: IncomingManagerRequest = { message, from: origin, reply: resolve, fail: reject, signal }
    ctx.emitEvent('request', req)
  })
  return untilAborted(answered, signal)
}

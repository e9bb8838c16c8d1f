/**
 * Answers what a bot asks of the manager tier: broadcasts (ours and discord.js's `_sEval`),
 * messages, requests to the manager, and respawnAll. The single-machine manager and the MACHINES
 * parent answer these; a child manager forwards them to its parent.
 */
import { ShardingError } from '../errors.js'
import { finishFanout } from '../ipc/results.js'
import type { FanoutEntry, Target } from '../ipc/targets.js'
import { decodeValue, encodeValue } from '../ipc/values.js'
import type { InstanceAction } from './instance.js'

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
}

export interface BotRequestContext {
  fanout(action: InstanceAction, target: Target, timeoutMs: number): Promise<FanoutEntry[]>
  rollingRestart(): Promise<void>
  emitEvent(name: string, ...args: unknown[]): void
  listenerCount(event: string): number
  defaultTimeout: number
}

export async function answerBotRequest(ctx: BotRequestContext, origin: Origin, kind: string, d: Record<string, unknown>): Promise<unknown> {
  switch (kind) {
    case 'broadcast':
      return ctx.fanout(d.action as InstanceAction, (d.target ?? {}) as Target, (d.timeout as number) ?? ctx.defaultTimeout)
    case 'djsBroadcast': {
      // discord.js expects plain values: one per instance, or one when it named a shard.
      const shard = d.shard as number | undefined
      const target: Target = shard === undefined ? {} : { shards: [shard] }
      const entries = await ctx.fanout(d.action as InstanceAction, target, ctx.defaultTimeout)
      return finishFanout(entries, { single: shard !== undefined, allowPartial: false })
    }
    case 'send': {
      if (!d.target) {
        ctx.emitEvent('message', decodeValue(d.message), origin)
        return null
      }
      await ctx.fanout({ type: 'send', message: d.message, from: origin }, d.target as Target, ctx.defaultTimeout)
      return null
    }
    case 'managerRequest':
      return encodeValue(await askManager(ctx, origin, decodeValue(d.message)))
    case 'respawnAll':
      ctx.rollingRestart().catch((err) => ctx.emitEvent('error', err))
      return null
    default:
      throw new ShardingError('UNKNOWN_OP', `unknown request ${JSON.stringify(kind)} from instance ${origin.instance}; are manager and bot on the same discordoo-sharding version?`)
  }
}

function askManager(ctx: BotRequestContext, origin: Origin, message: unknown): Promise<unknown> {
  if (ctx.listenerCount('request') === 0) {
    return Promise.reject(new ShardingError('NO_HANDLER', "the manager has no 'request' listener; add manager.on('request', req => req.reply(...))"))
  }
  return new Promise((resolve, reject) => {
    const req: IncomingManagerRequest = { message, from: origin, reply: resolve, fail: reject }
    ctx.emitEvent('request', req)
  })
}

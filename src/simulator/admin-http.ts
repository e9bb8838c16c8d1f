import type { IncomingMessage, ServerResponse } from 'node:http'
import { OptionsError } from '../errors.js'
import { HttpError, readJson, sendJson } from './http-util.js'
import type { ScaleOptions, ScaleResult, ShardingRequiredClose } from './admin-types.js'
import type { SessionStartLimitOptions, SimulatorOptions } from './options.js'
import type { SessionStartLimit, SimulatorStats } from './stats.js'

/** The in-process admin methods the HTTP routes call (implemented by GatewaySimulator). */
export interface AdminApi {
  stats(): SimulatorStats
  resetStats(): void
  config(): Record<string, unknown>
  configure(patch: SimulatorOptions): Record<string, unknown>
  guildIds(): string[]
  addGuilds(countOrIds: number | string[]): string[]
  removeGuild(id: string): boolean
  shardOfGuild(id: string, total: number): number
  dispatch(event: string, data: unknown, opts?: { guildId?: string | null }): number
  closeShard(shardId: number, code?: number, opts?: { total?: number; reason?: string }): number
  reconnect(shardId: number, opts?: { total?: number; closeAfterMs?: number }): number
  invalidateSession(shardId: number, resumable: boolean, opts?: { total?: number }): number
  requestHeartbeat(shardId: number, opts?: { total?: number }): number
  zombie(shardId: number, on: boolean): boolean
  scale(patch: ScaleOptions): ScaleResult
  recommendedShards(): number
  enforceShardingRequired(): ShardingRequiredClose[]
  sessionStartLimit(): SessionStartLimit
  setSessionStartLimit(patch: SessionStartLimitOptions): SessionStartLimit
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function optInt(body: Record<string, unknown>, field: string, min = 0): number | undefined {
  const v = body[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new OptionsError(field, `must be an integer >= ${min}`)
  return v
}

function shardParam(raw: string): number {
  const id = Number(raw)
  if (!Number.isInteger(id) || id < 0) throw new HttpError(400, `shard id must be a non-negative integer, got ${raw}`)
  return id
}

/**
 * `/__sim/*`: the admin API as JSON over HTTP, for tests and tools in another process. Every route
 * answers JSON; bad input is 400 `{ error, field? }`.
 */
export async function handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL, api: AdminApi): Promise<void> {
  const pathname = url.pathname
  try {
    const body = req.method === 'POST' || req.method === 'PUT' ? await readJson(req) : {}
    if (!isObject(body)) throw new HttpError(400, 'body must be a JSON object')
    const query = Object.fromEntries([...url.searchParams].map(([k, v]) => [k, /^\d+$/.test(v) ? Number(v) : v]))
    const result = route(req.method ?? 'GET', pathname.replace(/\/+$/, ''), req.method === 'GET' ? query : body, api)
    if (result === undefined) throw new HttpError(404, `no admin route ${req.method} ${pathname}`)
    sendJson(res, 200, result)
  } catch (err) {
    if (err instanceof OptionsError) return sendJson(res, 400, { error: err.message, field: err.field, code: err.code })
    if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message })
    sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) })
  }
}

function route(method: string, path: string, body: Record<string, unknown>, api: AdminApi): unknown {
  const get = method === 'GET'
  const post = method === 'POST'
  if (get && path === '/__sim/stats') return api.stats()
  if (post && path === '/__sim/reset-stats') return api.resetStats(), { ok: true }
  if (get && path === '/__sim/config') return api.config()
  if (post && path === '/__sim/configure') return api.configure(body as SimulatorOptions)
  if (get && path === '/__sim/scale') return { guilds: api.guildIds().length, recommendedShards: api.recommendedShards() }
  if (post && path === '/__sim/scale') return api.scale(body as ScaleOptions)
  if (post && path === '/__sim/sharding-required') return { closed: api.enforceShardingRequired() }
  if (get && path === '/__sim/session-start-limit') return api.sessionStartLimit()
  if (post && path === '/__sim/session-start-limit') return api.setSessionStartLimit(body as SessionStartLimitOptions)
  if (get && path === '/__sim/guilds') {
    const ids = api.guildIds()
    return { count: ids.length, ids }
  }
  if (post && path === '/__sim/guilds') {
    if (body.ids !== undefined) return { added: api.addGuilds(body.ids as string[]) }
    return { added: api.addGuilds(optInt(body, 'count') ?? 1) }
  }
  if (post && path === '/__sim/dispatch') {
    if (typeof body.event !== 'string' || body.event === '') throw new OptionsError('event', 'must be a non-empty string')
    const guildId = body.guildId
    if (guildId !== undefined && guildId !== null && typeof guildId !== 'string') {
      throw new OptionsError('guildId', 'must be a snowflake string')
    }
    return { delivered: api.dispatch(body.event, body.data ?? null, { guildId: guildId ?? undefined }) }
  }
  let m = /^\/__sim\/guilds\/([^/]+)(\/shard)?$/.exec(path)
  if (m) {
    const id = decodeURIComponent(m[1] as string)
    if (method === 'DELETE' && !m[2]) return { removed: api.removeGuild(id) }
    if (get && m[2]) return { shard: api.shardOfGuild(id, optInt(body, 'total', 1) ?? 1) }
    return undefined
  }
  m = /^\/__sim\/shards\/([^/]+)\/(close|reconnect|invalidate|heartbeat|zombie)$/.exec(path)
  if (!m || !post) return undefined
  const shardId = shardParam(m[1] as string)
  const total = optInt(body, 'total', 1)
  switch (m[2]) {
    case 'close':
      return { closed: api.closeShard(shardId, optInt(body, 'code', 1000) ?? 4000, { total, reason: body.reason as string | undefined }) }
    case 'reconnect':
      return { sent: api.reconnect(shardId, { total, closeAfterMs: optInt(body, 'closeAfterMs') }) }
    case 'invalidate':
      if (body.resumable !== undefined && typeof body.resumable !== 'boolean') throw new OptionsError('resumable', 'must be a boolean')
      return { sent: api.invalidateSession(shardId, body.resumable === true, { total }) }
    case 'heartbeat':
      return { sent: api.requestHeartbeat(shardId, { total }) }
    default:
      if (typeof body.on !== 'boolean') throw new OptionsError('on', 'must be a boolean')
      return { on: api.zombie(shardId, body.on) }
  }
}

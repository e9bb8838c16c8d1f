import type { IncomingMessage, ServerResponse } from 'node:http'
import { sendJson } from './http-util.js'

/** What the REST routes need from the simulator, read per request so `configure()` applies at once. */
export interface RestContext {
  tokens: readonly string[]
  gatewayUrl: string
  recommendedShards: number
  sessionStartLimit: { total: number; remaining: number; reset_after: number; max_concurrency: number }
  user: Record<string, unknown>
  applicationId: string
}

const UNAUTHORIZED = { message: '401: Unauthorized', code: 0 }
const NOT_FOUND = { message: '404: Not Found', code: 0 }

/** `/api`, `/api/v9/…`, `/api/v10/…` → the route after the version; null when the path is not under `/api`. */
export function restRoute(pathname: string): { route: string; version: number | null } | null {
  const m = /^\/api(?:\/v(\d+))?(\/.*)?$/.exec(pathname)
  if (!m) return null
  return { route: (m[2] ?? '/').replace(/\/+$/, '') || '/', version: m[1] === undefined ? null : Number(m[1]) }
}

function authorized(req: IncomingMessage, tokens: readonly string[]): boolean {
  const header = req.headers.authorization
  return typeof header === 'string' && header.startsWith('Bot ') && tokens.includes(header.slice(4).trim())
}

/** Answers one REST request under `/api` (gateway.md §5 "REST"). */
export function handleRest(req: IncomingMessage, res: ServerResponse, pathname: string, ctx: RestContext): void {
  const parsed = restRoute(pathname)
  if (!parsed) return sendJson(res, 404, NOT_FOUND)
  if (parsed.version !== null && parsed.version !== 9 && parsed.version !== 10) {
    return sendJson(res, 400, { message: 'Invalid API version', code: 50041 })
  }
  if (req.method !== 'GET') return sendJson(res, 405, { message: '405: Method Not Allowed', code: 0 })
  const needAuth = (): boolean => {
    if (authorized(req, ctx.tokens)) return true
    sendJson(res, 401, UNAUTHORIZED)
    return false
  }
  switch (parsed.route) {
    case '/gateway':
      return sendJson(res, 200, { url: ctx.gatewayUrl })
    case '/gateway/bot':
      if (!needAuth()) return
      return sendJson(res, 200, {
        url: ctx.gatewayUrl,
        shards: ctx.recommendedShards,
        session_start_limit: ctx.sessionStartLimit,
      })
    case '/users/@me':
      if (!needAuth()) return
      return sendJson(res, 200, ctx.user)
    case '/applications/@me':
    case `/oauth2/applications/@me`:
      if (!needAuth()) return
      return sendJson(res, 200, {
        id: ctx.applicationId,
        name: ctx.user.username,
        icon: null,
        description: '',
        bot_public: true,
        bot_require_code_grant: false,
        flags: 0,
        bot: ctx.user,
      })
    default:
      return sendJson(res, 404, NOT_FOUND)
  }
}

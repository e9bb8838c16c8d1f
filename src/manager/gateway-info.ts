/**
 * Asks Discord (or the simulator) for the recommended shard count, max_concurrency and session budget.
 * Plain node:http(s), not the global fetch: fetch loads undici on its first call, ~60 ms of a start
 * that spawns nothing until this answer is in.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { ShardingError } from '../errors.js'

export interface GatewayBotInfo {
  url: string
  shards: number
  session_start_limit: { total: number; remaining: number; reset_after: number; max_concurrency: number }
}

/** How long the whole ask may take; a gateway that never answers must not hold start() forever. */
export const GATEWAY_INFO_TIMEOUT_MS = 15_000
/** The answer is a few hundred bytes; anything this big is not it. */
const MAX_BODY_BYTES = 1 << 20

export async function fetchGatewayBot(api: string, token: string, timeoutMs = GATEWAY_INFO_TIMEOUT_MS): Promise<GatewayBotInfo> {
  const url = `${api}/v10/gateway/bot`
  let res: { status: number; body: string }
  try {
    res = await get(url, { Authorization: `Bot ${token}` }, timeoutMs)
  } catch (err) {
    throw new ShardingError('GATEWAY_INFO', `could not reach ${url}: ${(err as Error).message}`, { cause: err })
  }
  if (res.status === 401) throw new ShardingError('TOKEN_INVALID', `${url} answered 401: the token is invalid`)
  if (res.status < 200 || res.status > 299) throw new ShardingError('GATEWAY_INFO', `${url} answered HTTP ${res.status}`)
  let body: GatewayBotInfo
  try {
    body = JSON.parse(res.body) as GatewayBotInfo
  } catch {
    throw new ShardingError('GATEWAY_INFO', `${url} answered a body that is not JSON: ${res.body.slice(0, 200)}`)
  }
  if (typeof body?.shards !== 'number' || typeof body.session_start_limit?.max_concurrency !== 'number') {
    throw new ShardingError('GATEWAY_INFO', `${url} answered an unexpected body: ${JSON.stringify(body).slice(0, 200)}`)
  }
  return body
}

/** One GET: status and body text, or an error once `timeoutMs` has passed without the whole answer. */
function get(url: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const parsed = new URL(url)
    const send = parsed.protocol === 'https:' ? httpsRequest : parsed.protocol === 'http:' ? httpRequest : null
    if (!send) return reject(new Error(`the api URL must be http: or https:, got ${parsed.protocol}`))
    const req = send(parsed, { method: 'GET', headers: { ...headers, Accept: 'application/json' } })
    // Not unref'd: every way out clears it, and a script awaiting start() must see the rejection.
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    const fail = (err: Error) => {
      clearTimeout(timer)
      reject(err)
    }
    req.on('error', fail)
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`the answer is larger than ${MAX_BODY_BYTES} bytes`))
        else chunks.push(chunk)
      })
      res.on('error', fail)
      res.on('close', () => res.complete || fail(new Error('the connection closed before the whole answer arrived')))
      res.on('end', () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') })
      })
    })
    req.end()
  })
}

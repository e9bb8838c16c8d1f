/** Asks Discord (or the simulator) for the recommended shard count, max_concurrency and session budget. */
import { ShardingError } from '../errors.js'

export interface GatewayBotInfo {
  url: string
  shards: number
  session_start_limit: { total: number; remaining: number; reset_after: number; max_concurrency: number }
}

export async function fetchGatewayBot(api: string, token: string): Promise<GatewayBotInfo> {
  const url = `${api}/v10/gateway/bot`
  let res: Response
  try {
    res = await fetch(url, { headers: { Authorization: `Bot ${token}` } })
  } catch (err) {
    throw new ShardingError('GATEWAY_INFO', `could not reach ${url}: ${(err as Error).message}`, { cause: err })
  }
  if (res.status === 401) throw new ShardingError('TOKEN_INVALID', `${url} answered 401: the token is invalid`)
  if (!res.ok) throw new ShardingError('GATEWAY_INFO', `${url} answered HTTP ${res.status}`)
  const body = (await res.json()) as GatewayBotInfo
  if (typeof body?.shards !== 'number' || typeof body.session_start_limit?.max_concurrency !== 'number') {
    throw new ShardingError('GATEWAY_INFO', `${url} answered an unexpected body: ${JSON.stringify(body).slice(0, 200)}`)
  }
  return body
}

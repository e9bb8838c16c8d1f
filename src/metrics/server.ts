/**
 * The HTTP endpoints an operator scrapes: `/metrics` (Prometheus text), `/healthz` (200 only when
 * every shard is ready, 503 otherwise, with one line saying why) and `/status` (the JSON of
 * `status()`, what `discordoo status --url` reads). A failing source answers 500; it never throws
 * into the manager.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ShardingError } from '../errors.js'
import type { ManagerStatus } from '../manager/backend.js'
import { collectFamilies } from './collect.js'
import type { MetricCounters } from './counters.js'
import { CONTENT_TYPE, renderExposition } from './exposition.js'
import { health } from './health.js'

/** What the endpoints read on every request. */
export interface MetricsSource {
  status(): ManagerStatus
  counters(): Partial<MetricCounters>
}

export interface MetricsServerOptions {
  /** TCP port (0: any free port). */
  port: number
  /** Address to bind. Default 127.0.0.1; use 0.0.0.0 / :: for a scraper on another host or a container probe. */
  host?: string
}

export interface MetricsServer {
  readonly host: string
  readonly port: number
  /** `http://host:port`, for logs and `discordoo status --url`. */
  readonly url: string
  close(): Promise<void>
}

export const METRICS_PATHS = ['/metrics', '/healthz', '/status'] as const

/** Answers one request from `source` (exported so the routing is tested without a socket). */
export function respond(source: MetricsSource, method: string, path: string): { status: number; type: string; body: string } {
  const text = 'text/plain; charset=utf-8'
  if (!(METRICS_PATHS as readonly string[]).includes(path)) return { status: 404, type: text, body: `not found; try ${METRICS_PATHS.join(', ')}\n` }
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, type: text, body: 'only GET and HEAD\n' }
  try {
    const status = source.status()
    if (path === '/metrics') return { status: 200, type: CONTENT_TYPE, body: renderExposition(collectFamilies(status, source.counters())) }
    if (path === '/status') return { status: 200, type: 'application/json; charset=utf-8', body: JSON.stringify(status) }
    const h = health(status)
    return { status: h.ok ? 200 : 503, type: text, body: `${h.text}\n` }
  } catch (err) {
    return { status: 500, type: text, body: `cannot read the manager's status: ${String((err as Error)?.message ?? err).split('\n')[0]}\n` }
  }
}

/** Starts the endpoints; resolves once they listen. A port in use rejects with a `METRICS_LISTEN` error naming it. */
export async function createMetricsServer(source: MetricsSource, options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ShardingError('INVALID_OPTION', `metrics.port: expected a TCP port 0..65535, got ${JSON.stringify(port)}`)
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]
    const answer = respond(source, req.method ?? 'GET', path)
    res.writeHead(answer.status, { 'content-type': answer.type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(answer.body) })
    res.end(req.method === 'HEAD' ? undefined : answer.body)
  })
  // A scraper that keeps connections open must not hold close() up.
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
      const why = err.code === 'EADDRINUSE' ? 'is already in use' : err.code === 'EACCES' ? 'needs privileges' : err.code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : `cannot be used (${err.message})`
      reject(new ShardingError('METRICS_LISTEN', `metrics: ${where} ${why}; choose another metrics.port / metrics.host`, { cause: err }))
    })
    server.listen(port, host, () => resolve())
  })
  server.on('error', () => {})
  const bound = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  return {
    host,
    port: bound,
    url: `http://${urlHost}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

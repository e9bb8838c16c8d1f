import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { OptionsError } from '../errors.js'
import { GatewayConnection, type ConnectionHandler } from './gateway-connection.js'
import { GatewayCloseCode } from './protocol.js'

/** Where the simulator listens once started. */
export interface BoundAddress {
  /** The host clients use (`0.0.0.0` → `127.0.0.1`, IPv6 bracketed). */
  urlHost: string
  port: number
}

/** What the socket layer needs from the simulator. */
export interface ServerCallbacks {
  /** Every plain HTTP request (REST, admin, `/`). */
  http(req: IncomingMessage, res: ServerResponse, url: URL): void
  /** A WebSocket was accepted and wrapped; HELLO has not been sent yet. */
  connection(conn: GatewayConnection, path: string): void
}

/**
 * The HTTP server and WebSocket upgrade on one port: query checks at the upgrade, the set of open
 * gateway connections, and an orderly stop. Everything about the bot lives in the simulator.
 */
export class SimulatorServer {
  readonly connections = new Set<GatewayConnection>()
  private server: Server | null = null
  private wss: WebSocketServer | null = null
  private bound: BoundAddress | null = null
  private isStopping = false
  private onEmpty: (() => void) | null = null

  constructor(private readonly handler: ConnectionHandler, private readonly callbacks: ServerCallbacks) {}

  get address(): BoundAddress | null {
    return this.bound ? { ...this.bound } : null
  }

  get stopping(): boolean {
    return this.isStopping
  }

  async listen(host: string, port: number): Promise<BoundAddress> {
    if (this.server) throw new Error('GatewaySimulator is already started')
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new OptionsError('port', `must be an integer from 0 to 65535, got ${port}`)
    if (typeof host !== 'string' || host === '') throw new OptionsError('host', 'must be a non-empty string')
    const server = createServer((req, res) => this.callbacks.http(req, res, new URL(req.url ?? '/', 'http://simulator.invalid')))
    // Discord's own limit is enforced as a 4002 close; this only stops absurd frames before buffering.
    const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20, perMessageDeflate: false })
    server.on('upgrade', (req, socket, head) => this.onUpgrade(wss, req, socket as Socket, head))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    this.wss = wss
    this.isStopping = false
    const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host
    this.bound = { urlHost, port: (server.address() as AddressInfo).port }
    return { ...this.bound }
  }

  /** A connection finished closing (called by the simulator's close handling). */
  removed(conn: GatewayConnection): void {
    this.connections.delete(conn)
    if (this.connections.size === 0) this.onEmpty?.()
  }

  /**
   * Closes every socket with 1001 and waits up to 500 ms for the close handshakes, then drops what is
   * left, runs `beforeClose` (session teardown) and closes the server. Safe to call twice.
   */
  async close(beforeClose: () => void): Promise<void> {
    const server = this.server
    if (!server) return
    this.isStopping = true
    if (this.connections.size > 0) {
      const drained = new Promise<void>((resolve) => (this.onEmpty = resolve))
      for (const conn of this.connections) conn.close(GatewayCloseCode.GoingAway, 'Simulator stopping.')
      const grace = new Promise<void>((resolve) => setTimeout(resolve, 500).unref())
      await Promise.race([drained, grace])
      this.onEmpty = null
    }
    for (const conn of this.connections) conn.terminate()
    beforeClose()
    this.wss?.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    this.server = null
    this.wss = null
    this.bound = null
  }

  private onUpgrade(wss: WebSocketServer, req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid')
    const encoding = url.searchParams.get('encoding') ?? 'json'
    const compress = url.searchParams.get('compress')
    const reject = (message: string): void => {
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`)
    }
    if (this.isStopping) return reject('simulator is stopping')
    if (encoding !== 'json') return reject(`unsupported encoding '${encoding}': the simulator speaks json only`)
    if (compress !== null && compress !== 'zlib-stream') return reject(`unsupported compress '${compress}': only zlib-stream`)
    const rawVersion = url.searchParams.get('v')
    const version = rawVersion === null ? 10 : Number(rawVersion)
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const request = { version, compress: compress !== null, viaResumeUrl: url.pathname.endsWith('/resume') }
      const conn = new GatewayConnection(ws, request, this.handler)
      this.connections.add(conn)
      this.callbacks.connection(conn, url.pathname)
      conn.start()
    })
  }
}

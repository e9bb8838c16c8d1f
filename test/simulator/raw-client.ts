import { inflateSync, constants as zlibConstants } from 'node:zlib'
import { WebSocket } from 'ws'

export interface Frame {
  op: number
  d: any
  s: number | null
  t: string | null
}

/**
 * A bare gateway client for tests: queues every frame so a test can await "the next frame" (optionally
 * matching a predicate) instead of sleeping, and exposes the close code as a promise.
 */
export class RawClient {
  readonly frames: Frame[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  private waiters: Array<() => void> = []
  private zlibChunks: Buffer[] = []
  private inflatedLength = 0

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        this.wake()
      })
    })
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)
      if (isBinary) {
        // zlib-stream: one context for the whole connection; inflate everything so far, keep the new tail.
        this.zlibChunks.push(buf)
        const all = inflateSync(Buffer.concat(this.zlibChunks), { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString('utf8')
        const text = all.slice(this.inflatedLength)
        this.inflatedLength = all.length
        this.frames.push(JSON.parse(text))
      } else {
        this.frames.push(JSON.parse(buf.toString('utf8')))
      }
      this.wake()
    })
  }

  static connect(url: string, query = '?v=10&encoding=json'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url + query)
      const client = new RawClient(ws)
      ws.once('open', () => resolve(client))
      ws.once('error', reject)
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
  }

  /** Connects and consumes HELLO. */
  static async hello(url: string, query?: string): Promise<{ client: RawClient; hello: Frame }> {
    const client = await RawClient.connect(url, query)
    const hello = await client.next()
    return { client, hello }
  }

  send(payload: unknown): void {
    this.ws.send(typeof payload === 'string' ? payload : JSON.stringify(payload))
  }

  identify(d: Record<string, unknown> = {}): void {
    this.send({
      op: 2,
      d: { token: 'sim-token', intents: 1, properties: { os: 'linux', browser: 'raw', device: 'raw' }, ...d },
    })
  }

  /** Removes and returns the first queued frame matching `match` (waits for it). Rejects if the socket closes first. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.frames.findIndex(match)
      if (i >= 0) return this.frames.splice(i, 1)[0] as Frame
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed before the expected frame')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; queued: ${JSON.stringify(this.frames.map((f) => [f.op, f.t]))}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Waits for a dispatch of type `t`. */
  dispatch(t: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.op === 0 && f.t === t, timeoutMs)
  }

  /** IDENTIFY, then READY and (with the GUILDS intent) its GUILD_CREATEs. */
  async ready(d: Record<string, unknown> = {}, guilds?: number): Promise<{ ready: Frame; guildCreates: Frame[] }> {
    this.identify(d)
    const ready = await this.dispatch('READY')
    const count = guilds ?? ready.d.guilds.length
    const guildCreates: Frame[] = []
    for (let i = 0; i < count; i++) guildCreates.push(await this.dispatch('GUILD_CREATE'))
    return { ready, guildCreates }
  }

  close(code?: number): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code)
    return this.closed
  }

  terminate(): void {
    this.ws.terminate()
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

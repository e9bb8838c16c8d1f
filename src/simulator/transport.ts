import { constants as zlibConstants, createDeflate, type Deflate } from 'node:zlib'
import { WebSocket } from 'ws'

/**
 * Writes gateway payloads to one socket, as text frames or with `zlib-stream` transport compression
 * (one deflate context per connection, each payload ends with a Z_SYNC_FLUSH so the frame ends in
 * 00 00 ff ff). Compression is asynchronous, so sends and the final close go through one queue to keep
 * their order: a close never overtakes a payload queued before it.
 */
export class Transport {
  private readonly deflate: Deflate | null
  private chain: Promise<void> = Promise.resolve()
  private closing = false

  constructor(private readonly socket: WebSocket, compress: boolean) {
    this.deflate = compress ? createDeflate({ chunkSize: 65_535 }) : null
    // A write racing a teardown must not become an unhandled 'error' that kills the process.
    this.deflate?.on('error', () => socket.terminate())
  }

  get open(): boolean {
    return !this.closing && this.socket.readyState === WebSocket.OPEN
  }

  send(payload: unknown): void {
    if (!this.open) return
    const json = JSON.stringify(payload)
    if (!this.deflate) {
      this.socket.send(json)
      return
    }
    this.enqueue(async () => {
      if (this.socket.readyState !== WebSocket.OPEN) return
      const frame = await this.compress(json)
      if (this.socket.readyState === WebSocket.OPEN) this.socket.send(frame, { binary: true })
    })
  }

  /** Closes after every payload queued so far has been written. Later sends are dropped. */
  close(code: number, reason = ''): void {
    if (this.closing) return
    this.closing = true
    const doClose = (): void => {
      if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
        this.socket.close(code, reason.slice(0, 120))
      }
      this.deflate?.close()
    }
    if (this.deflate) this.enqueue(async () => doClose())
    else doClose()
  }

  /** Drops the TCP connection without a close frame (an abrupt drop, or teardown). */
  terminate(): void {
    this.closing = true
    this.socket.terminate()
    this.deflate?.close()
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch(() => this.socket.terminate())
  }

  private compress(json: string): Promise<Buffer> {
    const deflate = this.deflate as Deflate
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      const onData = (chunk: Buffer): void => {
        chunks.push(chunk)
      }
      deflate.on('data', onData)
      deflate.write(json)
      deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => {
        deflate.off('data', onData)
        // 'data' for the flushed bytes is emitted before the flush callback in Node's zlib stream.
        if (chunks.length === 0) reject(new Error('zlib produced no output'))
        else resolve(Buffer.concat(chunks))
      })
    })
  }
}

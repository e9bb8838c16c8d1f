/**
 * Splits a byte stream into frames. The announced length is checked against the limit BEFORE any
 * payload is buffered, so a hostile header cannot make us allocate. After the first error the
 * deframer stays failed: a stream that lost framing cannot be trusted again (no resync).
 */
import { ProtocolError } from '../errors.js'
import { HEADER_AFTER_LENGTH } from './constants.js'
import { parseFrame, type Frame } from './frame.js'

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

export class Deframer {
  private chunks: Buffer[] = []
  private have = 0
  private need = -1
  private failure: ProtocolError | null = null

  /** @param maxFrameBytes largest accepted value of the length field (6 + payload bytes). */
  constructor(
    private readonly onFrame: (frame: Frame) => void,
    public maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
  ) {}

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.have
  }

  get failed(): boolean {
    return this.failure !== null
  }

  /** Feeds bytes; calls onFrame for each complete frame. Throws ProtocolError on a framing error. */
  push(chunk: Buffer): void {
    if (this.failure) throw this.failure
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.have += chunk.length
    try {
      this.drain()
    } catch (err) {
      this.fail(err)
    }
  }

  private drain(): void {
    for (;;) {
      if (this.need < 0) {
        if (this.have < 4) return
        if (this.chunks[0]!.length < 4) this.chunks = [Buffer.concat(this.chunks, this.have)]
        const len = this.chunks[0]!.readUInt32BE(0)
        if (len > this.maxFrameBytes) {
          throw new ProtocolError(`frame announces ${len} bytes, more than the limit of ${this.maxFrameBytes}`, 'FRAME_TOO_LARGE')
        }
        if (len < HEADER_AFTER_LENGTH) {
          throw new ProtocolError(`frame announces ${len} bytes, less than its ${HEADER_AFTER_LENGTH}-byte header`, 'FRAME_MALFORMED')
        }
        this.chunks[0] = this.chunks[0]!.subarray(4)
        this.have -= 4
        this.need = len
      }
      if (this.have < this.need) return
      // Concatenate only when the frame spans chunks; the common case is a view into one chunk.
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have)
      const body = all.subarray(0, this.need)
      const rest = all.subarray(this.need)
      this.chunks = rest.length > 0 ? [rest] : []
      this.have = rest.length
      this.need = -1
      this.onFrame(parseFrame(body))
    }
  }

  private fail(err: unknown): never {
    this.chunks = []
    this.have = 0
    this.failure =
      err instanceof ProtocolError ? err : new ProtocolError(`frame handling failed: ${(err as Error)?.message ?? err}`, 'FRAME_MALFORMED')
    throw this.failure
  }
}

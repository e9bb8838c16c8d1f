/**
 * Request-layer envelopes (`req`, `res`, `cancel`) bound for the same peer travel together, as one
 * `pack` message, when there are many: each message costs more to send than to build (a
 * serialization pass, a write or a thread wake-up, a `message` event on the other side), and with
 * many calls in flight packing pays that once per batch instead of once per call. Two moments pack:
 *
 * - while the side is busy (`busy()`: its endpoint has more than one call in flight), the
 *   envelopes of one turn of the event loop go out together at the end of the turn;
 * - while a received pack is handled (`batch`), its answers go back together.
 *
 * Otherwise an envelope goes at once, as itself: a lone call waits for nothing and costs nothing
 * more. Everything else (reports, heartbeats, discord.js's and the user's raw messages) goes at once,
 * after whatever is queued, so a channel keeps the order in which things were sent.
 *
 * A pack that cannot be sent whole (one message in it cannot be serialized) is sent message by
 * message, and each one that fails goes to `undeliverable`; so does everything queued when the
 * channel turns out to be closed. The request layer then rejects that call, or answers the request
 * with the reason (RpcEndpoint.undeliverable), as it would have if the message had failed at once.
 */
import { PROTOCOL_VERSION } from '../constants.js'
import { Ops, type Envelope } from './envelope.js'

/** One channel's sending side, as the packer needs it. */
export interface PackerChannel {
  /** False when the channel is closed (nothing was sent). Throws when the message cannot be serialized. */
  send(msg: unknown): boolean
  /** The error for messages that could not be sent because the channel is closed. */
  closedError(): Error
}

export interface PackerOptions {
  /** Whether envelopes sent now should wait for the end of the turn (default: never). */
  busy?: () => boolean
  /** Runs a function at the end of the current turn of the event loop (tests pass their own). */
  schedule?: (fn: () => void) => void
}

const PACKABLE: ReadonlySet<string> = new Set([Ops.REQUEST, Ops.RESPONSE, Ops.CANCEL])

/**
 * At the end of this turn of the event loop (the check phase): by then every message that arrived in
 * this turn has been handled, and every call their handlers and continuations made is in the queue.
 * (An earlier point, the end of the tick, came after each message of a worker's channel and packed
 * about half as many calls there; a scheduled callback per lone message, which any of them would
 * need, showed in the p99 of sequential calls, hence packing only when busy.)
 */
const endOfTurn = (fn: () => void) => void setImmediate(fn)

export class Packer {
  private queue: Envelope[] = []
  /** The queue is sent when the scheduled end of the turn comes. */
  private scheduled = false
  /** Nesting depth of batch(): the queue is sent when the outermost one ends. */
  private holding = 0
  private closed = false
  private readonly busy: () => boolean
  private readonly schedule: (fn: () => void) => void
  private readonly endTurn = () => {
    this.scheduled = false
    if (this.holding === 0) this.flush()
  }

  constructor(
    private readonly channel: PackerChannel,
    private readonly undeliverable: (msg: Envelope, err: Error) => void,
    options: PackerOptions = {},
  ) {
    this.busy = options.busy ?? (() => false)
    this.schedule = options.schedule ?? endOfTurn
  }

  /**
   * Sends `msg`, now or with the envelopes it packs with (see above). False when the channel is known
   * to be closed; throws what the channel throws for a message sent now.
   */
  send(msg: unknown): boolean {
    if (isPackable(msg)) return this.sendCall(msg)
    this.flush()
    return this.sendNow(msg)
  }

  /**
   * `send` for what the request layer posts (`req`, `res`, `cancel`: the caller knows), without looking
   * at the message: the envelopes of every kind (heartbeats, reports, raw messages) that a check sees
   * made the optimizing compiler throw away and redo this hot path whenever a new kind came by.
   */
  sendCall(msg: Envelope): boolean {
    if (this.closed) return false
    if (this.holding === 0 && !this.scheduled) {
      if (!this.busy()) {
        // sendNow(), written out: see "Small helpers" in envelope.ts
        const sent = this.channel.send(msg)
        if (!sent) this.closed = true
        return sent
      }
      this.scheduled = true
      this.schedule(this.endTurn)
    }
    this.queue.push(msg)
    return true
  }

  /** Runs `fn` (the handling of a received pack); the envelopes it sends go out together when it returns. */
  batch(fn: () => void): void {
    this.holding++
    try {
      fn()
    } finally {
      if (--this.holding === 0 && !this.scheduled) this.flush()
    }
  }

  /** Sends whatever is queued now (before a message that must follow it, or before the process exits). */
  flush(): void {
    const queued = this.queue
    if (queued.length === 0) return
    this.queue = []
    if (queued.length === 1) return this.sendEach(queued)
    let sent: boolean
    try {
      sent = this.channel.send(pack(queued))
    } catch {
      // one of them cannot be serialized: find out which, and send the others
      return this.sendEach(queued)
    }
    if (!sent) this.failAll(queued)
  }

  private sendNow(msg: unknown): boolean {
    const sent = this.channel.send(msg)
    if (!sent) this.closed = true
    return sent
  }

  private sendEach(messages: Envelope[]): void {
    for (let i = 0; i < messages.length; i++) {
      const msg = messages[i]!
      let sent: boolean
      try {
        sent = this.channel.send(msg)
      } catch (err) {
        this.undeliverable(msg, err instanceof Error ? err : new Error(String(err)))
        continue
      }
      if (!sent) return this.failAll(messages.slice(i))
    }
  }

  private failAll(messages: Envelope[]): void {
    this.closed = true
    const err = this.channel.closedError()
    for (const msg of messages) this.undeliverable(msg, err)
  }
}

export function pack(messages: Envelope[]): Envelope<Envelope[]> {
  return { v: PROTOCOL_VERSION, op: Ops.PACK, d: messages }
}

/** The messages of a pack (`msg.op === Ops.PACK`), or null when its body is not a list. */
export function unpack(msg: Envelope): unknown[] | null {
  return Array.isArray(msg.d) ? msg.d : null
}

function isPackable(msg: unknown): msg is Envelope {
  return (
    typeof msg === 'object' &&
    msg !== null &&
    (msg as Envelope).v === PROTOCOL_VERSION &&
    PACKABLE.has((msg as Envelope).op)
  )
}

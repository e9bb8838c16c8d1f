import { fragmentMessage } from './fragment.js'
import { DATA_FRAME_OVERHEAD } from './frames.js'

/**
 * Sender-side message store for the reliable stream: new fragments in send order, a retransmit
 * queue that goes first, and per-fragment acknowledgement so that a fragment which travelled in
 * two packets (a PTO probe, a spurious loss) is never resent once either copy was acknowledged.
 * Fragment objects are created only when first sent, so a long backlog costs one object per message.
 */
export interface OutMessage {
  id: number
  payload: Buffer
  frags: Buffer[]
  nextFrag: number
  unacked: number
}

export interface OutFrag {
  msg: OutMessage
  index: number
  acked: boolean
  /** Sitting in the retransmit queue (prevents queueing the same fragment twice). */
  queued: boolean
  sends: number
}

export class SendQueue {
  private nextMsgId = 0
  /** Messages with at least one unacknowledged fragment, in msgId order. */
  private readonly outstanding = new Map<number, OutMessage>()
  private newQ: (OutMessage | undefined)[] = []
  private newHead = 0
  private retxQ: OutFrag[] = []
  private retxHead = 0
  private bytes = 0

  constructor(private readonly fragmentBytes: number) {}

  /** Payload bytes accepted but not yet fully acknowledged. */
  get queuedBytes(): number {
    return this.bytes
  }
  get queuedMessages(): number {
    return this.outstanding.size
  }

  /** Take ownership of `payload` (the caller must not modify it afterwards). */
  push(payload: Buffer): void {
    const frags = fragmentMessage(payload, this.fragmentBytes)
    const msg: OutMessage = { id: this.nextMsgId, payload, frags, nextFrag: 0, unacked: frags.length }
    this.nextMsgId = (this.nextMsgId + 1) >>> 0
    this.outstanding.set(msg.id, msg)
    this.newQ.push(msg)
    this.bytes += payload.length
  }

  /** Size of the DATA frame that would be sent next, or -1. Discards stale retransmit entries. */
  peekFrameSize(): number {
    while (this.retxHead < this.retxQ.length) {
      const f = this.retxQ[this.retxHead]!
      if (!f.acked) return DATA_FRAME_OVERHEAD + f.msg.frags[f.index]!.length
      f.queued = false
      this.retxHead++
    }
    if (this.retxHead > 0) {
      this.retxQ = []
      this.retxHead = 0
    }
    const m = this.newQ[this.newHead]
    return m ? DATA_FRAME_OVERHEAD + m.frags[m.nextFrag]!.length : -1
  }

  /** Next fragment to send; call only after peekFrameSize() returned >= 0. Retransmissions first. */
  take(): OutFrag {
    if (this.retxHead < this.retxQ.length) {
      const f = this.retxQ[this.retxHead++]!
      f.queued = false
      return f
    }
    const m = this.newQ[this.newHead]!
    const f: OutFrag = { msg: m, index: m.nextFrag++, acked: false, queued: false, sends: 0 }
    if (m.nextFrag === m.frags.length) {
      this.newQ[this.newHead++] = undefined
      // Compact occasionally so the array does not grow without bound under steady traffic.
      if (this.newHead > 1024 && this.newHead * 2 > this.newQ.length) {
        this.newQ = this.newQ.slice(this.newHead)
        this.newHead = 0
      }
    }
    return f
  }

  /** The packet carrying `f` was lost (or is being probed): send it again unless already acknowledged. */
  requeue(f: OutFrag): void {
    if (f.acked || f.queued) return
    f.queued = true
    this.retxQ.push(f)
  }

  acked(f: OutFrag): void {
    if (f.acked) return
    f.acked = true
    const m = f.msg
    if (--m.unacked === 0) {
      this.outstanding.delete(m.id)
      this.bytes -= m.payload.length
    }
  }

  /** Empty the queue and return the payloads the peer never fully acknowledged, in send order. */
  drain(): Buffer[] {
    const out = [...this.outstanding.values()].map((m) => m.payload)
    this.outstanding.clear()
    this.newQ = []
    this.newHead = 0
    this.retxQ = []
    this.retxHead = 0
    this.bytes = 0
    return out
  }
}

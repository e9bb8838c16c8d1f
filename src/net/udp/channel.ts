import { EventEmitter } from 'node:events'
import type { RemoteInfo } from 'node:dgram'
import { AckTracker } from './ack.js'
import { Deadline } from './clock.js'
import { Reassembler } from './fragment.js'
import { FRAME_ACK, FRAME_CLOSE, FRAME_DATA, FRAME_PING, decodeFrames, encodeCloseFrame, writeAckFrame, writeDataFrame, writePingFrame, DATA_FRAME_OVERHEAD } from './frames.js'
import type { UdpKeys } from './keys.js'
import { ACK_RESERVE, AES_GCM_PACKET_LIMIT, MAX_MTU, resolveChannelOptions, type ResolvedChannelOptions, type UdpChannelOptions, type UdpRemote } from './options.js'
import { MAX_PN, PACKET_OVERHEAD, openPacket, parseHeader, sealPacket } from './packet.js'
import { LossRecovery, type SentPacket } from './recovery.js'
import { KeyRing } from './keyring.js'
import { SendQueue, type OutFrag } from './sendqueue.js'
import type { UdpChannelEvents, UdpChannelStats, UdpDeadReason } from './channel-types.js'

export type { UdpChannelEvents, UdpChannelStats, UdpDeadReason } from './channel-types.js'

/** The only stream in protocol v1: reliable and in order. */
const STREAM_RELIABLE = 0

/**
 * One authenticated, encrypted, reliable and ordered message channel to one peer over UDP.
 * The socket is owned elsewhere (UdpEndpoint): incoming datagrams arrive through `receive()`.
 *
 * Nothing an outsider can put on the wire makes this throw: undecryptable, replayed, misaddressed
 * and malformed datagrams are dropped and counted. An authenticated peer that breaks the protocol
 * kills the channel ('dead'), and the owner falls back to TLS.
 */
export class UdpChannel extends EventEmitter<UdpChannelEvents> {
  private readonly o: ResolvedChannelOptions
  private readonly recovery: LossRecovery<OutFrag>
  private readonly acks: AckTracker
  private readonly reasm: Reassembler
  /** Where we send (as given, or as last seen when following the peer). */
  private readonly remoteAddr: UdpRemote
  /** remoteAddr.address normalised, for comparing with rinfo. */
  private remoteKey: string
  private readonly keys: KeyRing

  private nextPn = 0
  private readonly queue: SendQueue
  private probes = 0
  private pingWanted = false
  private lastAckElicitingAt: number
  private flushScheduled = false
  private dead = false
  private deadReason: UdpDeadReason | null = null

  private readonly recoveryTimer: Deadline
  private readonly ackTimer: Deadline
  private readonly keepAliveTimer: Deadline
  private readonly reasmTimer: Deadline
  private readonly oldKeyTimer: Deadline

  private readonly s = {
    packetsSent: 0,
    packetsReceived: 0,
    packetsLost: 0,
    packetsRetransmitted: 0,
    framesRetransmitted: 0,
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    droppedAuth: 0,
    droppedReplay: 0,
    droppedAddress: 0,
    droppedInvalid: 0,
    droppedRefused: 0,
    sendErrors: 0,
    acksSent: 0,
    ackOnlySent: 0,
    ptoFired: 0,
    dataFramesSent: 0,
    flushes: 0,
    cwndLimitedMs: 0,
  }
  private cwndLimitedSince: number | null = null

  private readonly defer: (fn: () => void) => void

  constructor(options: UdpChannelOptions) {
    super()
    this.o = resolveChannelOptions(options)
    const t = this.o.timers
    this.defer = t.defer ? t.defer.bind(t) : (fn) => void setImmediate(fn)
    this.remoteAddr = { ...this.o.remote }
    this.remoteKey = normalizeAddress(this.o.remote.address)
    this.recovery = new LossRecovery<OutFrag>(this.o.recovery, t.now())
    this.queue = new SendQueue(this.o.fragmentBytes)
    this.acks = new AckTracker({ maxAckDelayMs: this.o.recovery.maxAckDelayMs, ackElicitingThreshold: this.o.ackElicitingThreshold, maxRanges: 32 })
    this.reasm = new Reassembler({
      maxMessageBytes: this.o.maxMessageBytes,
      maxFragmentBytes: MAX_MTU - PACKET_OVERHEAD - DATA_FRAME_OVERHEAD,
      maxFragments: this.o.maxFragments,
      maxPartialMessages: this.o.maxPartialMessages,
      maxBufferedBytes: this.o.maxBufferedBytes,
      timeoutMs: this.o.reassemblyTimeoutMs,
    })
    this.keys = new KeyRing(this.o.keys, t.now())
    this.lastAckElicitingAt = t.now()
    this.recoveryTimer = new Deadline(t, (due) => this.onRecoveryTimer(due))
    this.ackTimer = new Deadline(t, (due) => this.flush(due))
    this.keepAliveTimer = new Deadline(t, (due) => this.onKeepAlive(due))
    this.reasmTimer = new Deadline(t, (due) => this.onReassemblyTimer(due))
    this.oldKeyTimer = new Deadline(t, () => this.keys.dropPrevious())
    this.armTimers()
  }

  get connId(): Buffer {
    return this.o.connId
  }
  get remote(): UdpRemote {
    return { ...this.remoteAddr }
  }
  get socket(): ResolvedChannelOptions['socket'] {
    return this.o.socket
  }
  get isDead(): boolean {
    return this.dead
  }
  get epoch(): number {
    return this.keys.current.keys.epoch
  }

  /**
   * Queue one message for reliable, ordered delivery. Returns false (and queues nothing) when the
   * channel is dead, the message exceeds maxMessageBytes, or the unacknowledged backlog would exceed
   * maxQueuedBytes: the caller then sends it over TLS instead.
   * The channel keeps a reference until the peer acknowledges the message (fragments are views into
   * it), so the caller must not modify `payload` afterwards; the link's frames are never modified.
   */
  send(payload: Buffer | Uint8Array): boolean {
    if (this.dead || payload.length > this.o.maxMessageBytes) return false
    if (this.queue.queuedBytes + payload.length > this.o.maxQueuedBytes) return false
    this.queue.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength))
    this.s.messagesSent++
    this.scheduleFlush()
    return true
  }

  /** Feed one datagram that arrived on the socket for this connId. Never throws for bad input. */
  receive(datagram: Buffer, rinfo: Pick<RemoteInfo, 'address' | 'port'>): void {
    if (this.dead) return
    const hdr = parseHeader(datagram)
    if (!hdr || !hdr.connId.equals(this.o.connId)) {
      this.s.droppedAuth++
      return
    }
    const fromPeer =
      rinfo.port === this.remoteAddr.port && (rinfo.address === this.remoteAddr.address || normalizeAddress(rinfo.address) === this.remoteKey)
    if (!fromPeer && !this.o.allowAddressChange) {
      this.s.droppedAddress++
      return
    }
    const ks = this.keys.select(hdr.epochByte)
    const pt = ks && openPacket(this.o.cipher, ks.keys.recvKey, ks.keys.recvIv, hdr.pn, datagram)
    if (!ks || !pt) {
      this.s.droppedAuth++
      return
    }
    // Only now, with the tag verified, may the packet touch the replay window.
    const newest = hdr.pn > ks.replay.highest
    if (!ks.replay.accept(hdr.pn)) {
      this.s.droppedReplay++
      return
    }
    if (!fromPeer) {
      // Follow a rebinding NAT only on proof of freshness, so a replayed-from-elsewhere packet cannot
      // redirect our traffic (it would be a duplicate, and duplicates were rejected just above).
      if (!newest) {
        this.s.droppedAddress++
        return
      }
      this.remoteAddr.address = rinfo.address
      this.remoteAddr.port = rinfo.port
      this.remoteKey = normalizeAddress(rinfo.address)
    }
    this.s.packetsReceived++
    this.s.bytesReceived += datagram.length
    this.processFrames(hdr.pn, pt)
  }

  /** Switch to the next epoch's keys (after UDP_REKEY on TLS). Old receive keys stay valid for 3×PTO. */
  rekey(keys: UdpKeys): void {
    this.keys.rotate(keys, this.o.timers.now())
    if (this.dead) return
    this.oldKeyTimer.set(this.o.timers.now() + 3 * this.recovery.pto())
  }

  /** Tell the peer (best effort) and stop. Emits 'dead' with reason 'closed'. */
  close(): void {
    if (this.dead) return
    this.sendFrames(encodeCloseFrame('closed'))
    this.die('closed')
  }

  /** Stop without telling the peer (the socket is gone, or the endpoint shuts down). */
  destroy(reason: UdpDeadReason = 'closed'): void {
    this.die(reason)
  }

  stats(): UdpChannelStats {
    const r = this.recovery
    return {
      ...this.s,
      spuriousRetransmits: r.spuriousLosses,
      srttMs: r.smoothedRtt,
      rttVarMs: r.rttVar,
      minRttMs: r.minRtt === Infinity ? 0 : r.minRtt,
      latestRttMs: r.latestRtt,
      inFlight: r.inFlight,
      bytesInFlight: r.bytesInFlight,
      cwnd: Math.floor(r.cwnd),
      ptoCount: r.ptoCount,
      queuedBytes: this.queue.queuedBytes,
      queuedMessages: this.queue.queuedMessages,
      epoch: this.keys.current.keys.epoch,
      dead: this.dead,
      deadReason: this.deadReason,
    }
  }

  // ---------------------------------------------------------------- receive side

  private processFrames(pn: number, pt: Buffer): void {
    const frames = decodeFrames(pt)
    if (!frames) return this.protocolError()
    const now = this.o.timers.now()
    let ackEliciting = false
    let refused = false
    let closed = false
    let lost = false
    for (const f of frames) {
      if (f.type === FRAME_DATA) {
        ackEliciting = true
        if (f.stream !== STREAM_RELIABLE) continue // reserved for an unreliable stream; ignored in v1
        const r = this.reasm.offer(f, now)
        if (r === 'invalid') return this.protocolError()
        if (r === 'refused') refused = true
      } else if (f.type === FRAME_ACK) {
        const res = this.recovery.onAck(f.ranges, f.ackDelayUs / 1000, now)
        if (!res) return this.protocolError()
        for (const p of res.acked) this.onPacketAcked(p)
        this.onPacketsLost(res.lost)
        if (res.lost.length) lost = true
      } else if (f.type === FRAME_PING) {
        ackEliciting = true
      } else if (f.type === FRAME_CLOSE) {
        closed = true
      }
    }
    // A packet is acknowledged only if every frame in it was kept, so refused data gets resent.
    if (refused) this.s.droppedRefused++
    else this.acks.onPacket(pn, ackEliciting, now)
    // Loss repair must not wait for the application: a retransmission this packet made due, or an
    // ACK that reports a gap to the peer, goes out now, before the delivered messages' handlers run
    // (they may keep the event loop busy for milliseconds). Everything else waits for the batch's end.
    if (lost || this.acks.urgent) this.flush(now)
    this.deliver()
    if (closed) return this.die('peer-closed')
    this.scheduleFlush()
  }

  private deliver(): void {
    for (;;) {
      if (this.dead) return
      const m = this.reasm.take()
      if (m === undefined) return
      this.s.messagesReceived++
      try {
        this.emit('message', m)
      } catch (err) {
        // A throwing listener must not lose the messages queued behind it or corrupt our state;
        // surface the error the way an uncaught listener exception would.
        process.nextTick(() => {
          throw err
        })
      }
    }
  }

  private protocolError(): void {
    this.s.droppedInvalid++
    this.die('protocol-error')
  }

  // ---------------------------------------------------------------- send side

  private onPacketAcked(p: SentPacket<OutFrag>): void {
    for (const f of p.frames) this.queue.acked(f)
  }

  private onPacketsLost(lost: SentPacket<OutFrag>[]): void {
    for (const p of lost) {
      this.s.packetsLost++
      for (const f of p.frames) this.queue.requeue(f)
    }
  }

  /**
   * Flush once the current batch of I/O callbacks is done rather than per message: what a batch of
   * received datagrams or worker replies produces then shares datagrams, and one ACK covers the batch.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.dead) return
    this.flushScheduled = true
    this.defer(this.deferredFlush)
  }

  private readonly deferredFlush = (): void => {
    this.flushScheduled = false
    this.flush()
  }

  /** Send whatever the window, the ACK state and pending probes allow. `due`: the timer's deadline, if a timer called. */
  private flush(due = 0): void {
    if (this.dead) return
    const now = Math.max(this.o.timers.now(), due)
    // Bounded so that one call cannot monopolise the event loop; the rest goes on the next tick.
    let budget = 256
    const sentBefore = this.s.packetsSent
    for (; budget > 0 && !this.dead; budget--) {
      const probe = this.probes > 0
      const hasData = this.queue.peekFrameSize() >= 0
      const windowOk = this.recovery.canSend()
      if (hasData && !windowOk) {
        if (this.cwndLimitedSince === null) this.cwndLimitedSince = now
      } else if (this.cwndLimitedSince !== null) {
        this.s.cwndLimitedMs += now - this.cwndLimitedSince
        this.cwndLimitedSince = null
      }
      const dataOk = (probe || windowOk) && hasData
      const mustAck = this.acks.mustAck(now)
      const ping = this.pingWanted || probe
      if (!dataOk && !mustAck && !ping) break
      if (!this.sendPacket(now, dataOk, ping)) break
    }
    if (this.s.packetsSent !== sentBefore) this.s.flushes++
    this.armTimers()
    // Budget used up (not "nothing left"): yield to I/O, then continue.
    if (budget === 0) this.scheduleFlush()
  }

  /** Build and send one packet; false if nothing could be sent (the caller stops looping). */
  private sendPacket(now: number, withData: boolean, ping: boolean): boolean {
    if (this.keys.current.sent >= AES_GCM_PACKET_LIMIT && this.o.cipher === 'aes-256-gcm') {
      this.die('key-exhausted')
      return false
    }
    const max = this.o.maxPlaintext
    const pt = Buffer.allocUnsafe(max)
    let off = 0
    const ranges = this.acks.rangeList
    if (ranges.length && (this.acks.hasNews || this.acks.mustAck(now))) {
      off = writeAckFrame(pt, 0, ranges, this.acks.ackDelayUs(now), withData ? ACK_RESERVE : max)
      if (off > 0) {
        this.acks.onAckSent()
        this.s.acksSent++
      }
    }
    const frames: OutFrag[] = []
    if (withData) {
      let retransmitted = false
      for (let size = this.queue.peekFrameSize(); size >= 0 && off + size <= max; size = this.queue.peekFrameSize()) {
        const f = this.queue.take()
        off = writeDataFrame(pt, off, STREAM_RELIABLE, f.msg.id, f.index, f.msg.frags.length, f.msg.frags[f.index]!)
        if (f.sends++ > 0) {
          this.s.framesRetransmitted++
          retransmitted = true
        }
        frames.push(f)
      }
      if (retransmitted) this.s.packetsRetransmitted++
    }
    if (ping && frames.length === 0) off = writePingFrame(pt, off)
    if (off === 0) return false
    const ackEliciting = frames.length > 0 || ping
    this.s.dataFramesSent += frames.length
    if (!ackEliciting) this.s.ackOnlySent++
    const pn = this.nextPn++
    if (pn >= MAX_PN) {
      this.die('key-exhausted')
      return false
    }
    const bytes = this.seal(pn, pt.subarray(0, off))
    this.recovery.onPacketSent(pn, ackEliciting, now, frames, bytes)
    if (ackEliciting) {
      this.lastAckElicitingAt = now
      this.pingWanted = false
      if (this.probes > 0) this.probes--
    }
    this.checkKeyAge(now)
    return true
  }

  /** Send a one-off packet (CLOSE), outside the recovery machinery. */
  private sendFrames(pt: Buffer): void {
    this.seal(this.nextPn++, pt)
  }

  /** Encrypt and send one packet; returns the datagram's size. */
  private seal(pn: number, pt: Buffer): number {
    const k = this.keys.current
    const datagram = sealPacket({ cipher: this.o.cipher, key: k.keys.sendKey, iv: k.keys.sendIv, epoch: k.keys.epoch, connId: this.o.connId, pn }, pt)
    k.sent++
    this.s.packetsSent++
    this.s.bytesSent += datagram.length
    try {
      if (this.o.transmit) this.o.transmit(datagram, this.remoteAddr)
      // No callback: dgram then tries a synchronous send and allocates no request object, saving a
      // completion callback per datagram. Asynchronous failures are not reported (UDP is best effort,
      // and loss recovery treats them as loss); synchronous ones throw and are counted below.
      else this.o.socket.send(datagram, this.remoteAddr.port, this.remoteAddr.address)
    } catch (err) {
      this.s.sendErrors++
      // dgram throws synchronously once the socket is closed; nothing will ever get through again.
      if ((err as { code?: string }).code === 'ERR_SOCKET_DGRAM_NOT_RUNNING') queueMicrotask(() => this.die('socket-closed'))
    }
    return datagram.length
  }

  private checkKeyAge(now: number): void {
    if (this.keys.shouldAskRekey(now, this.o.rekeyAfterPackets, this.o.rekeyAfterMs)) {
      const next = this.keys.current.keys.epoch + 1
      // Deferred: a listener that rekeys synchronously must not swap keys under a running flush.
      queueMicrotask(() => {
        if (!this.dead) this.emit('rekeyNeeded', next)
      })
    }
  }

  // ---------------------------------------------------------------- timers

  private onRecoveryTimer(due: number): void {
    if (this.dead) return
    const now = Math.max(this.o.timers.now(), due)
    const { lost, pto } = this.recovery.onTimeout(now)
    this.onPacketsLost(lost)
    if (pto) {
      this.s.ptoFired++
      // Both conditions: with PTOs of a few ms on a LAN, six in a row is a short stall (GC, a busy
      // core), not a dead path; falling back to TLS for the rest of the connection would be costly.
      const silentFor = now - this.recovery.lastProgressAt
      if (this.recovery.ptoCount >= this.o.maxPtoCount && silentFor >= this.o.deadAfterMs) return this.die('timeout')
      // Probe with data when there is any: the oldest unacknowledged fragments first, since they
      // are what the peer's in-order delivery is most likely waiting for.
      const oldest = this.recovery.oldest()
      if (oldest) for (const f of oldest.frames) this.queue.requeue(f)
      this.probes = this.queue.peekFrameSize() >= 0 ? 2 : 1
    }
    this.flush(now)
  }

  private onKeepAlive(due: number): void {
    if (this.dead) return
    const now = Math.max(this.o.timers.now(), due)
    this.checkKeyAge(now)
    if (now - this.lastAckElicitingAt >= this.o.keepAliveMs && this.recovery.inFlight === 0) {
      // Keeps NAT bindings open and, through the PTO chain it arms, detects a silent peer.
      this.pingWanted = true
      this.flush(now)
    } else {
      // Data is in flight (the PTO chain watches liveness) or there was recent traffic: look again later.
      this.keepAliveTimer.set(Math.max(this.keepAliveDeadline(), now + this.o.keepAliveMs / 4))
      this.armTimers()
    }
  }

  private keepAliveDeadline(): number {
    const k = this.keys.current
    const ping = this.lastAckElicitingAt + this.o.keepAliveMs
    return k.rekeyAsked ? ping : Math.min(ping, k.since + this.o.rekeyAfterMs)
  }

  private onReassemblyTimer(due: number): void {
    if (this.dead) return
    if (this.reasm.expired(Math.max(this.o.timers.now(), due))) return this.die('reassembly-timeout')
    this.armTimers()
  }

  private armTimers(): void {
    if (this.dead) return
    this.recoveryTimer.set(this.recovery.deadline())
    this.ackTimer.set(this.acks.deadline)
    this.reasmTimer.set(this.reasm.nextDeadline())
    // Re-armed lazily: activity only pushes the deadline later, and onKeepAlive re-checks on expiry.
    if (this.keepAliveTimer.deadline === null) this.keepAliveTimer.set(this.keepAliveDeadline())
  }

  private die(reason: UdpDeadReason): void {
    if (this.dead) return
    this.dead = true
    this.deadReason = reason
    for (const t of [this.recoveryTimer, this.ackTimer, this.keepAliveTimer, this.reasmTimer, this.oldKeyTimer]) t.clear()
    const unacked = this.queue.drain()
    this.recovery.drain()
    this.keys.dropPrevious()
    this.emit('dead', reason, unacked)
  }
}

/** '::ffff:1.2.3.4' (an IPv4 peer seen on a dual-stack socket) and '1.2.3.4' are the same peer. */
export function normalizeAddress(a: string): string {
  const s = a.toLowerCase()
  return s.startsWith('::ffff:') && s.includes('.') ? s.slice(7) : s
}

/** Public shapes of UdpChannel, kept apart so the channel module holds only behaviour. */

export type UdpDeadReason =
  | 'closed'
  | 'peer-closed'
  | 'timeout'
  | 'protocol-error'
  | 'reassembly-timeout'
  | 'key-exhausted'
  | 'socket-closed'
  | 'endpoint-closed'

export interface UdpChannelStats {
  packetsSent: number
  packetsReceived: number
  /** Packets declared lost by loss detection (their data was queued again). */
  packetsLost: number
  /** Packets that carried at least one fragment sent before. */
  packetsRetransmitted: number
  framesRetransmitted: number
  bytesSent: number
  bytesReceived: number
  messagesSent: number
  messagesReceived: number
  /** Failed AEAD, unknown epoch or foreign connId. */
  droppedAuth: number
  /** Authenticated but already seen, or older than the replay window. */
  droppedReplay: number
  /** From an address/port other than the peer's. */
  droppedAddress: number
  /** Authenticated but malformed (the channel dies on these). */
  droppedInvalid: number
  /** Authenticated, left unacknowledged because reassembly buffers were full (sender retransmits). */
  droppedRefused: number
  sendErrors: number
  /** Packets that carried an ACK frame (alone or with data). */
  acksSent: number
  /** Packets that carried only an ACK (no data, no PING). */
  ackOnlySent: number
  /** Probe timeouts that fired (each sends one or two probes). */
  ptoFired: number
  /** Packets declared lost that the peer acknowledged afterwards (the retransmission was not needed). */
  spuriousRetransmits: number
  /** DATA frames sent, retransmissions included (dataFramesSent / packetsSent = frames per packet). */
  dataFramesSent: number
  /** flush() runs that sent at least one packet (packetsSent / flushes = datagrams per flush). */
  flushes: number
  /** Time during which data was queued but the congestion window was full. */
  cwndLimitedMs: number
  srttMs: number
  rttVarMs: number
  minRttMs: number
  latestRttMs: number
  /** Ack-eliciting packets in flight. */
  inFlight: number
  bytesInFlight: number
  /** Congestion window, bytes. */
  cwnd: number
  ptoCount: number
  queuedBytes: number
  queuedMessages: number
  epoch: number
  dead: boolean
  deadReason: UdpDeadReason | null
}

export interface UdpChannelEvents {
  message: [payload: Buffer]
  /** `unacked`: messages the peer never confirmed, in send order. Some may still have arrived. */
  dead: [reason: UdpDeadReason, unacked: Buffer[]]
  /** Time to run UDP_REKEY over TLS: this many packets or this much time under the current key. */
  rekeyNeeded: [nextEpoch: number]
}

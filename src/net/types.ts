/** Types of the link API: what both ends expose, their events, and the second-transport hook. */
import type { EventEmitter } from 'node:events'
import type { LinkDownError } from './errors.js'

/** Who is on the other end, as established by the handshake. */
export interface PeerInfo {
  /** Label of the pinned certificate (its trust file path or configured label). */
  label: string
  fingerprint: string
  nodeId: string
  /** The peer's HELLO/WELCOME `info`. */
  info: unknown
  remoteAddress: string
  remotePort: number
}

export interface LinkStats {
  up: boolean
  sessionId: string | null
  peer: PeerInfo | null
  /** PING/PONG round trip, exponentially weighted (α = 0.2) per connection; the last value survives reconnects. */
  rttMs: number | null
  messagesSent: number
  messagesReceived: number
  /** Received messages dropped because they were empty, nil or not decodable (each reported on 'error'). */
  messagesDropped: number
  duplicatesDropped: number
  retransmitted: number
  /** Messages/bytes queued or sent but not yet acknowledged by the peer. */
  queuedMessages: number
  queuedBytes: number
  /** Of the queued messages, how many were never handed to a transport (write backpressure or link down). */
  unsentMessages: number
  connects: number
  resumes: number
  newSessions: number
  downs: number
  bytesIn: number
  bytesOut: number
  datagram: boolean
  lastDownReason: string | null
}

/** The interface both ends implement. Events: see LinkEvents. */
export interface MessageLink extends EventEmitter {
  /** Queues a message; it is delivered exactly once, in order, while the session lives. Returns its sequence number. */
  send(msg: unknown): number
  readonly up: boolean
  close(reason?: string): Promise<void>
  stats(): LinkStats
}

export interface UpEvent {
  sessionId: string
  resumed: boolean
  peer: PeerInfo
  caps: string[]
  /** Frames sent again because the previous connection dropped before they were acknowledged. */
  retransmitting: number
}

export interface SessionEvent {
  sessionId: string
  /** The session this one replaces; null for the first session of this link. */
  previousSessionId: string | null
  peer: PeerInfo
  /** Messages of the previous session the peer never acknowledged (they may or may not have been processed). */
  undelivered: unknown[]
}

export interface DownEvent {
  error: LinkDownError
  sessionId: string | null
}

export interface ControlEvent {
  type: number
  id: number
  value: unknown
}

/**
 * A second transport for MSG/ACK frames, e.g. the UDP channel (src/net/udp). One datagram carries
 * one whole frame. send() returns false when it cannot take the frame (too large, dead): the link
 * then uses TLS. On 'dead' the link re-sends every unacknowledged message over TLS.
 */
export interface DatagramTransport {
  send(payload: Buffer): boolean
  close(): void
  on(event: 'message', listener: (payload: Buffer) => void): unknown
  on(event: 'dead', listener: (reason: unknown) => void): unknown
  off(event: 'message', listener: (payload: Buffer) => void): unknown
  off(event: 'dead', listener: (reason: unknown) => void): unknown
}

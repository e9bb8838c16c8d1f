/** Error classes of the network layer. All are ShardingErrors with a stable `code`. */
import { LinkLostError, OptionsError, ShardingError } from '../errors.js'

/** send() was refused because too many bytes/messages wait for the peer's acknowledgement. */
export class BackpressureError extends ShardingError {
  readonly queuedBytes: number
  readonly queuedMessages: number
  constructor(message: string, queuedBytes: number, queuedMessages: number) {
    super('BACKPRESSURE', message)
    this.queuedBytes = queuedBytes
    this.queuedMessages = queuedMessages
  }
}

/** send()/connect() on a link that was closed with close(). */
export class LinkClosedError extends ShardingError {
  constructor(message = 'the link was closed with close(); create a new one') {
    super('LINK_CLOSED', message)
  }
}

/**
 * A connection attempt or handshake was refused, by us or by the peer. `code` tells why
 * (e.g. VERSION_MISMATCH, ALREADY_ATTACHED, NOT_PINNED, DEPTH_ZERO_SELF_SIGNED_CERT, HANDSHAKE_CLOSED);
 * `remote` is true when the peer refused us (its GOAWAY reason is the message).
 */
export class LinkRefusedError extends ShardingError {
  readonly remote: boolean
  constructor(code: string, message: string, remote: boolean, options?: { cause?: unknown }) {
    super(code, message, options)
    this.remote = remote
  }
}

export type DownReason = 'GOAWAY' | 'LIVENESS' | 'PROTOCOL' | 'CLOSED' | 'ERROR' | 'SUPERSEDED' | 'LOCAL'

/**
 * An established link went down. `reason` classifies it; `peerCode` is the code of the peer's GOAWAY
 * when it sent one. The session survives (messages stay queued) unless the link was closed.
 */
export class LinkDownError extends LinkLostError {
  readonly reason: DownReason
  readonly peerCode?: string
  constructor(peer: string, reason: DownReason, message: string, peerCode?: string, cause?: unknown) {
    super(peer, message)
    this.reason = reason
    if (peerCode !== undefined) this.peerCode = peerCode
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause
  }
}

export type TrustProblem =
  | 'UNREADABLE'
  | 'NOT_PEM'
  | 'NOT_A_KEY'
  | 'KEY_MISMATCH'
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'BAD_EKU'
  | 'EMPTY'

/** A certificate, key or trust file is unusable. `field` names the option, `problem` the cause. */
export class TrustError extends OptionsError {
  readonly problem: TrustProblem
  constructor(field: string, problem: TrustProblem, message: string) {
    super(field, message)
    this.problem = problem
  }
}

/** The server could not listen (address in use, no permission, bad address). */
export class ListenError extends ShardingError {
  readonly address: string
  constructor(code: string, address: string, message: string, cause?: unknown) {
    super(code, message, { cause })
    this.address = address
  }
}

/** Public surface of the machine-link layer (mutual TLS 1.3, framed msgpack, resumable sessions). */
export * from './constants.js'
export * from './errors.js'
export { Backoff, BACKOFF_DEFAULTS, type BackoffOptions } from './backoff.js'
export { Deframer, DEFAULT_MAX_FRAME_BYTES } from './deframer.js'
export {
  decodePayload,
  decodeValue,
  encodeEmptyFrame,
  encodeFrame,
  encodeRawFrame,
  encodeValue,
  frameTypeName,
  parseFrame,
  type Frame,
} from './frame.js'
export {
  agreeHeartbeat,
  checkVersion,
  type GoAway,
  type Heartbeat,
  type Hello,
  type LinkRole,
  type Welcome,
} from './handshake.js'
export { Inbox, Outbox, seqFromWire, seqToWire } from './session.js'
export {
  checkPurpose,
  checkValidity,
  fingerprintOf,
  loadIdentity,
  loadTrust,
  splitPemCertificates,
  type CertPurpose,
  type Identity,
  type PemSource,
  type TrustSource,
  type TrustStore,
} from './trust.js'
export { LINK_DEFAULTS, type LinkCommonOptions, type LinkTlsOptions } from './options.js'
export {
  Link,
  type ControlEvent,
  type DatagramTransport,
  type DownEvent,
  type LinkStats,
  type MessageLink,
  type PeerInfo,
  type SessionEvent,
  type UpEvent,
} from './link.js'
export { LinkClient, type LinkClientOptions, type RefusedEvent } from './client.js'
export { LinkServer, type LinkServerOptions } from './server.js'
export { autoUdp, serveUdp, startUdp, type StartUdpOptions, type UdpTuning } from './udp-link.js'

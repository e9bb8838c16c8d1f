/**
 * Optional UDP transport for MACHINES mode (experimental). The mutual-TLS TCP link stays up as the
 * authenticated control channel and the fallback: it supplies the keys (deriveUdpKeys) and carries
 * UDP_SETUP / UDP_REKEY; UdpChannel carries messages; UdpEndpoint owns the socket.
 */
export { deriveUdpKeys, validateKeys, UDP_EXPORTER_LABEL, CONN_ID_BYTES, type UdpKeys, type UdpRole } from './keys.js'
export { UdpChannel, normalizeAddress, type UdpChannelStats, type UdpChannelEvents, type UdpDeadReason } from './channel.js'
export { UdpEndpoint, type UdpEndpointOptions, type UdpEndpointStats, type UdpEndpointEvents } from './endpoint.js'
export { resolveChannelOptions, ACK_RESERVE, MIN_MTU, MAX_MTU, type UdpChannelOptions, type UdpRemote } from './options.js'
export { UdpError } from './errors.js'
export { realTimers, Deadline, type UdpTimers } from './clock.js'
export {
  sealPacket,
  openPacket,
  parseHeader,
  packetNonce,
  HEADER_BYTES,
  TAG_BYTES,
  PACKET_OVERHEAD,
  PACKET_TYPE_PROTECTED,
  UDP_CIPHERS,
  type UdpCipher,
  type PacketHeader,
  type SealParams,
} from './packet.js'
export {
  decodeFrames,
  encodeAckFrame,
  writeAckFrame,
  encodeCloseFrame,
  writeDataFrame,
  writePingFrame,
  FRAME_ACK,
  FRAME_CLOSE,
  FRAME_DATA,
  FRAME_PING,
  DATA_FRAME_OVERHEAD,
  type AckRange,
  type Frame,
  type DataFrame,
  type AckFrame,
} from './frames.js'
export { ReplayWindow } from './replay.js'
export { AckTracker, type AckTrackerOptions } from './ack.js'
export { Reassembler, fragmentMessage, DEFAULT_REASSEMBLY_LIMITS, type ReassemblyLimits, type OfferResult } from './fragment.js'
export { LossRecovery, DEFAULT_RECOVERY, inRanges, type RecoveryOptions, type SentPacket, type AckResult } from './recovery.js'
export { KeyRing, type KeyState } from './keyring.js'
export { SendQueue, type OutFrag, type OutMessage } from './sendqueue.js'

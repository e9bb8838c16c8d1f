import type { Socket } from 'node:dgram'
import { isIP } from 'node:net'
import { OptionsError } from '../../errors.js'
import { realTimers, type UdpTimers } from './clock.js'
import { DEFAULT_REASSEMBLY_LIMITS } from './fragment.js'
import { ACK_FRAME_MIN, ACK_RANGE_BYTES, DATA_FRAME_OVERHEAD } from './frames.js'
import { CONN_ID_BYTES, validateKeys, type UdpKeys, type UdpRole } from './keys.js'
import { PACKET_OVERHEAD, UDP_CIPHERS, type UdpCipher } from './packet.js'
import { DEFAULT_RECOVERY, type RecoveryOptions } from './recovery.js'

export interface UdpRemote {
  /** IP literal; datagrams from any other address/port are dropped unless `allowAddressChange`. */
  address: string
  port: number
}

export interface UdpChannelOptions {
  socket: Socket
  remote: UdpRemote
  connId: Buffer
  keys: UdpKeys
  role: UdpRole
  /** Default 'aes-256-gcm' (what TLS negotiates, hardware-accelerated). Both ends must agree. */
  cipher?: UdpCipher
  /** Largest datagram we send, header and tag included. Default 1200 (QUIC's guaranteed minimum). */
  mtu?: number
  /** Larger messages are refused by send() and belong on TLS. Default 65536. */
  maxMessageBytes?: number
  /** Bytes of messages accepted by send() but not yet acknowledged. Default 32 MiB. */
  maxQueuedBytes?: number
  /** Injectable clock for tests. */
  timers?: UdpTimers
  /** Replaces `socket.send` (tests wrap it in a lossy shim). */
  transmit?: (datagram: Buffer, remote: UdpRemote) => void
  /** Follow the peer to a new address if an authenticated packet with the highest pn so far comes from it (NAT rebinding). Default false. */
  allowAddressChange?: boolean
  /** RTT assumed until the first sample (the first PTOs derive from it). Default 10. */
  initialRttMs?: number
  /** Delayed-ACK bound; also added to every PTO. Default 5. */
  maxAckDelayMs?: number
  /** ACK at the end of the current I/O batch once this many ack-eliciting packets wait (else after maxAckDelayMs, or on the next packet going back). Default 4. */
  ackElicitingThreshold?: number
  /** Congestion window at the start, bytes. Default 32 × 1200. */
  initialWindowBytes?: number
  /** Upper bound of the congestion window, bytes. Default 4 MiB. */
  maxWindowBytes?: number
  /** Consecutive PTO expiries that, together with deadAfterMs, declare the channel dead. Default 6. */
  maxPtoCount?: number
  /** …and at least this long without an ACK for anything we sent. Default 2000. */
  deadAfterMs?: number
  /** Send a PING after this long without ack-eliciting traffic. Default 5000. */
  keepAliveMs?: number
  maxPartialMessages?: number
  maxBufferedBytes?: number
  reassemblyTimeoutMs?: number
  /** Emit 'rekeyNeeded' after this many packets under one key. Default 2^22. */
  rekeyAfterPackets?: number
  /** …or after this long. Default 1 h. */
  rekeyAfterMs?: number
}

export interface ResolvedChannelOptions {
  socket: Socket
  remote: UdpRemote
  connId: Buffer
  keys: UdpKeys
  role: UdpRole
  cipher: UdpCipher
  mtu: number
  maxMessageBytes: number
  maxQueuedBytes: number
  timers: UdpTimers
  transmit: ((datagram: Buffer, remote: UdpRemote) => void) | undefined
  allowAddressChange: boolean
  ackElicitingThreshold: number
  maxPtoCount: number
  deadAfterMs: number
  keepAliveMs: number
  maxPartialMessages: number
  maxBufferedBytes: number
  reassemblyTimeoutMs: number
  rekeyAfterPackets: number
  rekeyAfterMs: number
  recovery: RecoveryOptions
  /** Plaintext bytes per packet. */
  maxPlaintext: number
  /** Data bytes per fragment: leaves room for one DATA header and an ACK with a few ranges. */
  fragmentBytes: number
  /** Largest fragment count accepted from a peer (computed for the smallest legal mtu). */
  maxFragments: number
}

export const MIN_MTU = 512
/** udp4's hard limit; udp6 is one byte more, but nobody should get near either. */
export const MAX_MTU = 65_507
/** Room kept for an ACK frame in a full data packet: the first range plus 5 more. */
export const ACK_RESERVE = ACK_FRAME_MIN + 5 * ACK_RANGE_BYTES
export const MAX_MESSAGE_LIMIT = 8 * 1024 * 1024
/** AES-GCM confidentiality limit per key (RFC 9001 §6.6): the channel stops rather than exceed it. */
export const AES_GCM_PACKET_LIMIT = 2 ** 23

function fragmentBytesFor(mtu: number): number {
  return mtu - PACKET_OVERHEAD - DATA_FRAME_OVERHEAD - ACK_RESERVE
}

function int(field: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new OptionsError(field, `must be an integer between ${min} and ${max} (got ${String(v)})`)
  }
  return v
}

function num(field: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new OptionsError(field, `must be a number between ${min} and ${max} (got ${String(v)})`)
  }
  return v
}

export function resolveChannelOptions(o: UdpChannelOptions): ResolvedChannelOptions {
  if (!o || typeof o !== 'object') throw new OptionsError('udp', 'options object required')
  if (!o.socket || typeof o.socket.send !== 'function') throw new OptionsError('udp.socket', 'must be a dgram.Socket')
  if (!o.remote || !isIP(o.remote.address)) throw new OptionsError('udp.remote.address', 'must be an IP address literal')
  int('udp.remote.port', o.remote.port, 0, 1, 65535)
  if (!Buffer.isBuffer(o.connId) || o.connId.length !== CONN_ID_BYTES) {
    throw new OptionsError('udp.connId', `must be a Buffer of ${CONN_ID_BYTES} bytes`)
  }
  validateKeys(o.keys, 'udp.keys')
  if (o.role !== 'client' && o.role !== 'server') throw new OptionsError('udp.role', "must be 'client' or 'server'")
  const cipher = o.cipher ?? 'aes-256-gcm'
  if (!UDP_CIPHERS.includes(cipher)) throw new OptionsError('udp.cipher', `must be one of ${UDP_CIPHERS.join(', ')}`)
  const mtu = int('udp.mtu', o.mtu, 1200, MIN_MTU, MAX_MTU)
  const fragmentBytes = fragmentBytesFor(mtu)
  const maxMessageBytes = int('udp.maxMessageBytes', o.maxMessageBytes, 65_536, 1, MAX_MESSAGE_LIMIT)
  if (o.transmit !== undefined && typeof o.transmit !== 'function') throw new OptionsError('udp.transmit', 'must be a function')
  const maxAckDelayMs = num('udp.maxAckDelayMs', o.maxAckDelayMs, DEFAULT_RECOVERY.maxAckDelayMs, 0, 1000)
  const minWindowBytes = Math.max(DEFAULT_RECOVERY.minWindowBytes, 2 * mtu)
  const maxWindowBytes = int('udp.maxWindowBytes', o.maxWindowBytes, Math.max(DEFAULT_RECOVERY.maxWindowBytes, minWindowBytes), minWindowBytes, 2 ** 30)
  const initialWindowBytes = int(
    'udp.initialWindowBytes',
    o.initialWindowBytes,
    Math.min(Math.max(DEFAULT_RECOVERY.initialWindowBytes, 10 * mtu), maxWindowBytes),
    minWindowBytes,
    maxWindowBytes,
  )
  return {
    socket: o.socket,
    remote: { address: o.remote.address, port: o.remote.port },
    connId: Buffer.from(o.connId),
    keys: o.keys,
    role: o.role,
    cipher,
    mtu,
    maxMessageBytes,
    maxQueuedBytes: int('udp.maxQueuedBytes', o.maxQueuedBytes, 32 * 1024 * 1024, maxMessageBytes, 2 ** 40),
    timers: o.timers ?? realTimers,
    transmit: o.transmit,
    allowAddressChange: o.allowAddressChange === true,
    ackElicitingThreshold: int('udp.ackElicitingThreshold', o.ackElicitingThreshold, 4, 1, 64),
    maxPtoCount: int('udp.maxPtoCount', o.maxPtoCount, 6, 1, 30),
    deadAfterMs: num('udp.deadAfterMs', o.deadAfterMs, 2000, 0, 3_600_000),
    keepAliveMs: num('udp.keepAliveMs', o.keepAliveMs, 5000, 1, 3_600_000),
    maxPartialMessages: int('udp.maxPartialMessages', o.maxPartialMessages, DEFAULT_REASSEMBLY_LIMITS.maxPartialMessages, 1, 4096),
    maxBufferedBytes: int('udp.maxBufferedBytes', o.maxBufferedBytes, DEFAULT_REASSEMBLY_LIMITS.maxBufferedBytes, 1024, 2 ** 32),
    reassemblyTimeoutMs: num('udp.reassemblyTimeoutMs', o.reassemblyTimeoutMs, DEFAULT_REASSEMBLY_LIMITS.timeoutMs, 1, 3_600_000),
    rekeyAfterPackets: int('udp.rekeyAfterPackets', o.rekeyAfterPackets, 2 ** 22, 1, AES_GCM_PACKET_LIMIT),
    rekeyAfterMs: num('udp.rekeyAfterMs', o.rekeyAfterMs, 3_600_000, 1, 2 ** 31),
    recovery: {
      ...DEFAULT_RECOVERY,
      initialRttMs: num('udp.initialRttMs', o.initialRttMs, DEFAULT_RECOVERY.initialRttMs, 0.1, 60_000),
      maxAckDelayMs,
      initialWindowBytes,
      minWindowBytes,
      maxWindowBytes,
      datagramBytes: mtu,
    },
    maxPlaintext: mtu - PACKET_OVERHEAD,
    fragmentBytes,
    maxFragments: Math.ceil(maxMessageBytes / fragmentBytesFor(MIN_MTU)),
  }
}

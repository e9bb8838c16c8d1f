/**
 * Wire constants of the machine link (research/transport.md §5). Changing any value here changes the
 * protocol: bump PROTOCOL_VERSION and keep MIN_PROTOCOL_VERSION at the oldest version still spoken.
 */

export const PROTOCOL_VERSION = 1
export const MIN_PROTOCOL_VERSION = 1
export const DEFAULT_LINK_PORT = 8379

/** Frame types. 17–19 (REQ/RES/ERR) and 48 (CHUNK) are reserved by the design and rejected today. */
export const FrameType = {
  HELLO: 1,
  WELCOME: 2,
  PING: 3,
  PONG: 4,
  GOAWAY: 5,
  MSG: 16,
  ACK: 20,
  UDP_SETUP: 32,
  UDP_REKEY: 33,
} as const
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType]

export const FRAME_TYPE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(FrameType).map(([name, code]) => [code, name]),
)

/** bit0: payload is raw bytes, not msgpack. bit1 is reserved for compression; every other bit must be 0. */
export const FrameFlag = { RAW: 1 } as const
export const KNOWN_FLAGS = FrameFlag.RAW

/** u32 length + u8 type + u8 flags + u32 id. */
export const HEADER_BYTES = 10
/** Bytes counted by the length field that are not payload (type, flags, id). */
export const HEADER_AFTER_LENGTH = 6

/** Capabilities a side may advertise in HELLO/WELCOME; the session uses their intersection. */
export const Capability = {
  /** Sessions survive reconnects (seq/ack, retransmission). Always advertised by this version. */
  RESUME: 'resume',
  /** The peer can set up an encrypted UDP channel with UDP_SETUP once the link is up. */
  UDP: 'udp',
} as const

/** Types a side must only send after WELCOME, and only when both advertised `udp`. */
export const UDP_CONTROL_TYPES: ReadonlySet<number> = new Set([FrameType.UDP_SETUP, FrameType.UDP_REKEY])

/** Label for `exportKeyingMaterial` (RFC 5705 §4 reserves the EXPERIMENTAL prefix for private use). */
export const UDP_EXPORTER_LABEL = 'EXPERIMENTAL-dsm-udp-v1'

/**
 * Frame codec (pure): `u32 len | u8 type | u8 flags | u32 id | payload`, len = 6 + payload bytes.
 * Payloads are msgpack unless FLAG RAW is set. The header is written in place into space msgpackr
 * reserves at the front (RESERVE_START_SPACE), so a frame costs one allocation and no concat.
 *
 * Value semantics (what survives a hop): msgpack maps, arrays, strings, numbers, booleans, null,
 * Buffers (arrive as Buffer copies), Dates, BigInt (as int64; numbers within 2^53 come back as number).
 * `undefined` object properties are OMITTED (like JSON), so `{ a: undefined }` arrives as `{}`;
 * a top-level `undefined` and `undefined` array elements survive as `undefined`. A Map arrives as a
 * plain object; a Set is not supported (the caller's own codec handles exotic types).
 */
import { Packr, RESERVE_START_SPACE, type Options } from 'msgpackr'
import { ProtocolError } from '../errors.js'
import { FRAME_TYPE_NAMES, FrameFlag, FrameType, HEADER_AFTER_LENGTH, HEADER_BYTES, KNOWN_FLAGS } from './constants.js'

/** A parsed frame. `payload` is a view into the received bytes; decode it with decodePayload. */
export interface Frame {
  type: number
  flags: number
  id: number
  payload: Buffer
}

// structuredClone stays off (CVE-2023-52079); records off keeps frames stateless so any frame can be
// decoded alone (retransmission, UDP); copyBuffers so delivered Buffers do not pin socket chunks.
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'auto',
  copyBuffers: true,
  skipValues: [undefined],
} as Options & { skipValues: unknown[]; int64AsType: 'auto' })

/** Types whose payload must be empty (their meaning is all in the header). */
const EMPTY_PAYLOAD_TYPES: ReadonlySet<number> = new Set([FrameType.PING, FrameType.PONG, FrameType.ACK])

export function frameTypeName(type: number): string {
  return FRAME_TYPE_NAMES.get(type) ?? `type ${type}`
}

function writeHeader(buf: Buffer, type: number, flags: number, id: number): void {
  buf.writeUInt32BE(buf.length - 4, 0)
  buf[4] = type
  buf[5] = flags
  buf.writeUInt32BE(id >>> 0, 6)
}

/** Encodes `value` with msgpack into a complete frame. Throws if the value cannot be encoded. */
export function encodeFrame(type: number, id: number, value: unknown): Buffer {
  const buf = packr.pack(value, RESERVE_START_SPACE | HEADER_BYTES)
  writeHeader(buf, type, 0, id)
  return buf
}

/** A header-only frame (PING, PONG, ACK). */
export function encodeEmptyFrame(type: number, id: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES)
  writeHeader(buf, type, 0, id)
  return buf
}

/** A frame whose payload is raw bytes (flag RAW), copied once. */
export function encodeRawFrame(type: number, id: number, bytes: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + bytes.length)
  buf.set(bytes, HEADER_BYTES)
  writeHeader(buf, type, FrameFlag.RAW, id)
  return buf
}

/** Rewrites the id of an already built frame (MSG frames get their sequence number after encoding). */
export function setFrameId(frame: Buffer, id: number): void {
  frame.writeUInt32BE(id >>> 0, 6)
}

/** Bytes the length field announces for a built frame. */
export function frameBodyLength(frame: Buffer): number {
  return frame.length - 4
}

/**
 * Parses the bytes after the length field. Unknown types, unknown flags and payloads on types that
 * must not carry one are protocol errors: the caller must close the link, never skip ahead.
 */
export function parseFrame(body: Buffer): Frame {
  if (body.length < HEADER_AFTER_LENGTH) {
    throw new ProtocolError(`frame of ${body.length} bytes is shorter than its ${HEADER_AFTER_LENGTH}-byte header`, 'FRAME_MALFORMED')
  }
  const type = body[0]!
  const flags = body[1]!
  if (!FRAME_TYPE_NAMES.has(type)) throw new ProtocolError(`unknown frame type ${type}`, 'UNKNOWN_FRAME_TYPE')
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new ProtocolError(`${frameTypeName(type)} frame has unknown flags 0x${flags.toString(16)}`, 'FRAME_MALFORMED')
  }
  const payload = body.subarray(HEADER_AFTER_LENGTH)
  if (EMPTY_PAYLOAD_TYPES.has(type) && payload.length > 0) {
    throw new ProtocolError(`${frameTypeName(type)} frame must not carry a payload (got ${payload.length} bytes)`, 'FRAME_MALFORMED')
  }
  if ((flags & FrameFlag.RAW) !== 0 && type !== FrameType.MSG && type !== FrameType.UDP_SETUP && type !== FrameType.UDP_REKEY) {
    throw new ProtocolError(`${frameTypeName(type)} frame must not be raw`, 'FRAME_MALFORMED')
  }
  return { type, flags, id: body.readUInt32BE(2), payload }
}

/** Decodes a frame's payload: raw bytes are copied, msgpack is unpacked; an empty payload is undefined. */
export function decodePayload(frame: Frame): unknown {
  if ((frame.flags & FrameFlag.RAW) !== 0) return Buffer.from(frame.payload)
  if (frame.payload.length === 0) return undefined
  try {
    return packr.unpack(frame.payload)
  } catch (err) {
    throw new ProtocolError(
      `${frameTypeName(frame.type)} frame payload is not valid msgpack: ${(err as Error).message}`,
      'FRAME_MALFORMED',
    )
  }
}

/** Encodes a bare value as msgpack (used by tests and by callers that want the codec alone). */
export function encodeValue(value: unknown): Buffer {
  return packr.pack(value)
}

export function decodeValue(bytes: Buffer): unknown {
  return packr.unpack(bytes)
}

import { createCipheriv, createDecipheriv, type CipherGCM, type DecipherGCM } from 'node:crypto'
import { CONN_ID_BYTES, IV_BYTES } from './keys.js'

/**
 * Datagram layout (all integers big-endian):
 *
 *   0      u8   type|version  0x11: low nibble = packet type (1 = protected), high nibble = version (1)
 *   1      u8   epoch         low 8 bits of the key epoch, selects current vs previous keys
 *   2..9   8 B  connId        demultiplexing key, chosen at UDP_SETUP
 *   10..17 u64  pn            packet number, strictly increasing per sender, never reused
 *   18..   ciphertext of the frames
 *   last 16 B  AEAD tag
 *
 * Bytes 0..17 are the AAD, so a flipped header bit (connId, epoch, pn) fails authentication just like a
 * flipped ciphertext bit. The nonce is iv XOR pn (RFC 8446 §5.3), so a pn is never used twice per key.
 */
export const PACKET_TYPE_PROTECTED = 0x11
export const HEADER_BYTES = 2 + CONN_ID_BYTES + 8
export const TAG_BYTES = 16
export const PACKET_OVERHEAD = HEADER_BYTES + TAG_BYTES
/** pn values are JS numbers; 2^53 packets is far beyond any key's lifetime. */
export const MAX_PN = Number.MAX_SAFE_INTEGER

export type UdpCipher = 'aes-256-gcm' | 'chacha20-poly1305'
export const UDP_CIPHERS: readonly UdpCipher[] = ['aes-256-gcm', 'chacha20-poly1305']

export interface PacketHeader {
  epochByte: number
  connId: Buffer
  pn: number
}

/**
 * Cheap structural check done before any crypto, so junk costs nothing. Returns null for anything
 * that cannot be one of our packets. `connId` is a view into the datagram (no copy).
 */
export function parseHeader(datagram: Buffer): PacketHeader | null {
  if (datagram.length < PACKET_OVERHEAD || datagram[0] !== PACKET_TYPE_PROTECTED) return null
  const hi = datagram.readUInt32BE(10)
  // Above 2^53 the number would lose precision; a sender that got there is broken or hostile.
  if (hi > 0x1fffff) return null
  return {
    epochByte: datagram[1]!,
    connId: datagram.subarray(2, 2 + CONN_ID_BYTES),
    pn: hi * 0x1_0000_0000 + datagram.readUInt32BE(14),
  }
}

export function writeHeader(target: Buffer, epoch: number, connId: Buffer, pn: number): void {
  target[0] = PACKET_TYPE_PROTECTED
  target[1] = epoch & 0xff
  connId.copy(target, 2, 0, CONN_ID_BYTES)
  target.writeUInt32BE(Math.floor(pn / 0x1_0000_0000), 10)
  target.writeUInt32BE(pn >>> 0, 14)
}

/**
 * iv XOR (0^32 ‖ pn as u64). The `>>> 0` keeps XOR results unsigned for writeUInt32BE. `n` may be a
 * scratch buffer: createCipheriv copies the nonce, so seal/open reuse one instead of allocating.
 */
export function packetNonce(iv: Buffer, pn: number, n: Buffer = Buffer.allocUnsafe(IV_BYTES)): Buffer {
  iv.copy(n, 0, 0, IV_BYTES)
  const hi = Math.floor(pn / 0x1_0000_0000)
  const lo = pn >>> 0
  n.writeUInt32BE((n.readUInt32BE(4) ^ hi) >>> 0, 4)
  n.writeUInt32BE((n.readUInt32BE(8) ^ lo) >>> 0, 8)
  return n
}

/** Used synchronously inside one seal/open call only (the cipher copies it), so one suffices. */
const nonceScratch = Buffer.alloc(IV_BYTES)
const GCM_OPTIONS = { authTagLength: TAG_BYTES } as never

export interface SealParams {
  cipher: UdpCipher
  key: Buffer
  iv: Buffer
  epoch: number
  connId: Buffer
  pn: number
}

/** Build one protected datagram around `plaintext` (the encoded frames). */
export function sealPacket(p: SealParams, plaintext: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + plaintext.length + TAG_BYTES)
  writeHeader(out, p.epoch, p.connId, p.pn)
  const header = out.subarray(0, HEADER_BYTES)
  // Both algorithms share the GCM-shaped API (setAAD/getAuthTag); the cast only narrows the type.
  const c = createCipheriv(p.cipher, p.key, packetNonce(p.iv, p.pn, nonceScratch), GCM_OPTIONS) as unknown as CipherGCM
  c.setAAD(header, { plaintextLength: plaintext.length })
  const ct = c.update(plaintext)
  const fin = c.final()
  ct.copy(out, HEADER_BYTES)
  if (fin.length) fin.copy(out, HEADER_BYTES + ct.length)
  c.getAuthTag().copy(out, HEADER_BYTES + plaintext.length)
  return out
}

/**
 * Authenticate and decrypt a datagram whose header was already parsed. Returns null on any failure
 * (wrong key, tampering, truncation): the caller drops and counts, never throws.
 */
export function openPacket(cipher: UdpCipher, key: Buffer, iv: Buffer, pn: number, datagram: Buffer): Buffer | null {
  if (datagram.length < PACKET_OVERHEAD) return null
  const header = datagram.subarray(0, HEADER_BYTES)
  const ct = datagram.subarray(HEADER_BYTES, datagram.length - TAG_BYTES)
  const tag = datagram.subarray(datagram.length - TAG_BYTES)
  try {
    const d = createDecipheriv(cipher, key, packetNonce(iv, pn, nonceScratch), GCM_OPTIONS) as unknown as DecipherGCM
    d.setAuthTag(tag)
    d.setAAD(header, { plaintextLength: ct.length })
    const pt = d.update(ct)
    const fin = d.final() // throws when the tag does not verify
    return fin.length ? Buffer.concat([pt, fin]) : pt
  } catch {
    return null
  }
}

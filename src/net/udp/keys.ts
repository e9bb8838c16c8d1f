import type { TLSSocket } from 'node:tls'
import { OptionsError } from '../../errors.js'
import { UdpError } from './errors.js'

/**
 * RFC 5705 §4 reserves labels starting with "EXPERIMENTAL" for private use, so this one needs no
 * registration. Changing it (or the split below) is a wire-incompatible change.
 */
export const UDP_EXPORTER_LABEL = 'EXPERIMENTAL-dsm-udp-v1'
export const CONN_ID_BYTES = 8
export const KEY_BYTES = 32
export const IV_BYTES = 12
/** 2 directions × (32-byte key + 12-byte IV). */
const EXPORT_BYTES = 2 * (KEY_BYTES + IV_BYTES)

export type UdpRole = 'client' | 'server'

export interface UdpKeys {
  sendKey: Buffer
  sendIv: Buffer
  recvKey: Buffer
  recvIv: Buffer
  /** Rekey generation. The packet header carries only its low 8 bits. */
  epoch: number
}

/**
 * Derive the per-direction AEAD keys for one UDP association from an established TLS 1.3 session.
 * Both ends call this with the same connId and epoch; the context binds the material to both, so a
 * rekey (epoch + 1) or a second association on the same TLS link gets independent keys.
 * Layout of the 88 exported bytes: key c→s | key s→c | iv c→s | iv s→c.
 */
export function deriveUdpKeys(tlsSocket: TLSSocket, connId: Buffer, epoch: number, role: UdpRole): UdpKeys {
  if (!Buffer.isBuffer(connId) || connId.length !== CONN_ID_BYTES) {
    throw new OptionsError('connId', `must be a Buffer of ${CONN_ID_BYTES} bytes`)
  }
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new OptionsError('epoch', 'must be an integer between 0 and 2^32-1')
  }
  if (role !== 'client' && role !== 'server') throw new OptionsError('role', "must be 'client' or 'server'")
  // The design relies on TLS 1.3's exporter (RFC 8446 §7.5); TLS 1.2's is only safe with extended master
  // secret, which Node does not let us check, so refuse anything else rather than silently weaken keys.
  const protocol = typeof tlsSocket?.getProtocol === 'function' ? tlsSocket.getProtocol() : null
  if (protocol !== 'TLSv1.3') {
    throw new UdpError(`UDP keys need an established TLS 1.3 session (got ${protocol ?? 'none'})`, 'UDP_KEY_EXPORT')
  }
  const context = Buffer.alloc(CONN_ID_BYTES + 4)
  connId.copy(context, 0)
  context.writeUInt32BE(epoch, CONN_ID_BYTES)
  const km = tlsSocket.exportKeyingMaterial(EXPORT_BYTES, UDP_EXPORTER_LABEL, context)
  // Copy out of the exported block so that wiping or reusing one key never aliases another.
  const c2sKey = Buffer.from(km.subarray(0, 32))
  const s2cKey = Buffer.from(km.subarray(32, 64))
  const c2sIv = Buffer.from(km.subarray(64, 76))
  const s2cIv = Buffer.from(km.subarray(76, 88))
  km.fill(0)
  return role === 'client'
    ? { sendKey: c2sKey, sendIv: c2sIv, recvKey: s2cKey, recvIv: s2cIv, epoch }
    : { sendKey: s2cKey, sendIv: s2cIv, recvKey: c2sKey, recvIv: c2sIv, epoch }
}

/** Throws OptionsError unless `keys` has the right shapes; used by the channel on construction and rekey. */
export function validateKeys(keys: UdpKeys, field = 'keys'): void {
  if (!keys || typeof keys !== 'object') throw new OptionsError(field, 'must be the result of deriveUdpKeys()')
  for (const [name, len] of [
    ['sendKey', KEY_BYTES],
    ['recvKey', KEY_BYTES],
    ['sendIv', IV_BYTES],
    ['recvIv', IV_BYTES],
  ] as const) {
    const b = keys[name]
    if (!Buffer.isBuffer(b) || b.length !== len) throw new OptionsError(`${field}.${name}`, `must be a Buffer of ${len} bytes`)
  }
  if (!Number.isInteger(keys.epoch) || keys.epoch < 0 || keys.epoch > 0xffffffff) {
    throw new OptionsError(`${field}.epoch`, 'must be an integer between 0 and 2^32-1')
  }
}

/** Turns LinkTlsOptions into TLS material, and explains TLS failures in words. */
import type { TLSSocket } from 'node:tls'
import type { LinkTlsOptions } from './options.js'
import { loadIdentity, loadTrust, readSource, type CertPurpose, type Identity, type TrustStore } from './trust.js'
import { OptionsError } from '../errors.js'

export interface TlsMaterial {
  identity: Identity
  trust: TrustStore
  rejectUnauthorized: boolean
  dhparam?: string | Buffer
  warnings: string[]
}

/** `role` is this side's TLS role: the child is the server, the parent the client. */
export function loadTlsMaterial(o: LinkTlsOptions, role: 'server' | 'client', prefix = 'tls.'): TlsMaterial {
  if (!o || typeof o !== 'object') throw new OptionsError(prefix.replace(/\.$/, ''), 'is required: { cert, key, trust }')
  const f = {
    cert: o.fields?.cert ?? `${prefix}cert`,
    key: o.fields?.key ?? `${prefix}key`,
    trust: o.fields?.trust ?? `${prefix}trust`,
    dhparam: o.fields?.dhparam ?? `${prefix}dhparam`,
  }
  const own: CertPurpose = role === 'server' ? 'serverAuth' : 'clientAuth'
  const peers: CertPurpose = role === 'server' ? 'clientAuth' : 'serverAuth'
  const identity = loadIdentity({ cert: o.cert, key: o.key, passphrase: o.passphrase, purpose: own, fields: { cert: f.cert, key: f.key } })
  const trust = loadTrust(o.trust, { purpose: peers, field: f.trust })
  const material: TlsMaterial = {
    identity,
    trust,
    rejectUnauthorized: o.rejectUnauthorized !== false,
    warnings: [...identity.warnings, ...trust.warnings],
  }
  if (o.dhparam !== undefined) material.dhparam = o.dhparam === 'auto' ? 'auto' : readSource(f.dhparam, o.dhparam).text
  return material
}

/** The peer certificate's fingerprint256, or undefined when it sent none. */
export function peerFingerprint(sock: TLSSocket): string | undefined {
  const cert = sock.getPeerCertificate()
  return cert && typeof cert.fingerprint256 === 'string' && cert.fingerprint256.length > 0 ? cert.fingerprint256 : undefined
}

export type PeerCheck = { ok: true; label: string; fingerprint: string } | { ok: false; code: string; reason: string; fingerprint?: string }

/**
 * Pinning, after TLS: the certificate must be in the pin map (so a certificate merely issued by a
 * trusted one is refused), and TLS must have verified it unless rejectUnauthorized was turned off.
 */
export function checkPeer(sock: TLSSocket, m: TlsMaterial): PeerCheck {
  const fp = peerFingerprint(sock)
  if (!fp) return { ok: false, code: 'NO_CERTIFICATE', reason: 'the peer presented no certificate' }
  const label = m.trust.pins.get(fp)
  if (label === undefined) {
    return { ok: false, code: 'NOT_PINNED', reason: `the peer certificate ${fp} is not in the trust list`, fingerprint: fp }
  }
  if (m.rejectUnauthorized && !sock.authorized) {
    const code = String(sock.authorizationError ?? 'UNAUTHORIZED')
    return { ok: false, code, reason: `${describeTlsError(code)} (${code})`, fingerprint: fp }
  }
  return { ok: true, label, fingerprint: fp }
}

const REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "the peer's certificate is not in this side's trust list",
  SELF_SIGNED_CERT_IN_CHAIN: "the peer's certificate chain is not in this side's trust list",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the peer's certificate is not in this side's trust list",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the peer's certificate issuer is not in this side's trust list",
  CERT_HAS_EXPIRED: "the peer's certificate has expired",
  CERT_NOT_YET_VALID: "the peer's certificate is not valid yet (check both clocks)",
  INVALID_PURPOSE: "the peer's certificate lacks the needed extendedKeyUsage (serverAuth/clientAuth)",
  CERT_SIGNATURE_FAILURE: "the peer's certificate signature is invalid",
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: 'the client sent no certificate',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the server requires a client certificate and none was sent',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the peer does not trust our certificate (it is not in the peer's trusted list)",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the peer rejected our certificate',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'the peer says our certificate has expired',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: 'the peer could not verify our certificate',
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: 'the peer could not verify our handshake signature (key mismatch?)',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'the peer does not speak TLS 1.3',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'the peer does not speak TLS 1.3',
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: 'the peer does not speak TLS 1.3',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the peer does not speak TLS',
  ERR_SSL_HTTP_REQUEST: 'the peer sent plain HTTP instead of TLS',
  ERR_TLS_HANDSHAKE_TIMEOUT: 'the TLS handshake timed out',
  ERR_TLS_CERT_ALTNAME_INVALID: "the server certificate does not name the host dialled",
  ECONNRESET: 'the connection was reset during the TLS handshake',
  NOT_PINNED: 'the peer certificate is not in the trust list',
}

export function describeTlsError(code: string | undefined, fallback = 'TLS handshake failed'): string {
  return (code && REASONS[code]) || fallback
}

/** The GOAWAY code a child sends to a client whose certificate it refuses. */
export const CERTIFICATE_REFUSED = 'CERTIFICATE_REFUSED'

const CERT_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet (check both clocks)',
  INVALID_PURPOSE: 'its extendedKeyUsage lacks clientAuth',
  CERT_SIGNATURE_FAILURE: 'its signature is invalid',
}

/**
 * Why the child refuses a client certificate, worded for the client's operator (it travels in
 * the GOAWAY, and the parent prints "<child> refused our certificate: <this>").
 */
export function describeCertRefusal(code: string, fingerprint?: string): string {
  const which = fingerprint ? `certificate SHA-256 ${fingerprint}` : 'the certificate'
  if (code === 'NO_CERTIFICATE') return "no client certificate was sent; the child accepts only parents whose certificate is in its trusted list (--trust)"
  if (code === 'NOT_PINNED') return `${which} is not in the child's trusted list (--trust)`
  return `${which} is in the child's trusted list but ${CERT_REASONS[code] ?? describeTlsError(code, 'failed verification')} (${code})`
}

/** Remote address without the IPv4-mapped IPv6 prefix. */
export function cleanAddress(addr: string | undefined): string {
  if (!addr) return 'unknown'
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr
}

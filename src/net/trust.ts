/**
 * Certificates, keys and trust lists for the machine link. Own certificate/key problems are errors
 * (every peer would refuse us anyway, so fail at start-up with the file named). Problems with an
 * entry of the trust list (expired, wrong key usage, duplicate) are WARNINGS returned to the
 * caller: one stale entry must not cut the links to every other peer; TLS itself will refuse a
 * peer presenting that certificate, and the server reports it in its 'refused' event.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { TrustError } from './errors.js'

export type CertPurpose = 'serverAuth' | 'clientAuth'

const EKU_OID: Record<CertPurpose, string> = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' }
const ANY_EKU = '2.5.29.37.0'
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/** A certificate, key or trust entry: a file path, inline PEM text, or file contents. */
export type PemSource = string | Buffer

/** One entry of a trust list; `label` names the peer in logs and refusals (default: the path). */
export type TrustSource = PemSource | { path?: string; pem?: string | Buffer; label?: string }

export interface LoadedCertificate {
  pem: string
  x509: X509Certificate
  /** SHA-256 fingerprint, "AA:BB:…", the same format as getPeerCertificate().fingerprint256. */
  fingerprint: string
}

export interface Identity {
  certPem: string
  keyPem: string
  key: KeyObject
  certificate: LoadedCertificate
  warnings: string[]
}

export interface TrustStore {
  /** PEM of every trusted certificate, for the TLS `ca` option. */
  pems: string[]
  /** fingerprint256 → label. Only pinned certificates may finish a handshake. */
  pins: Map<string, string>
  certificates: Array<LoadedCertificate & { label: string }>
  warnings: string[]
}

function isInlinePem(s: string): boolean {
  return s.includes('-----BEGIN ')
}

/** Reads a source: inline PEM and Buffers are used as-is, anything else is a path. */
export function readSource(field: string, src: PemSource): { text: string | Buffer; origin: string } {
  if (Buffer.isBuffer(src)) return { text: src, origin: `${field} (buffer)` }
  if (typeof src !== 'string' || src.length === 0) throw new TrustError(field, 'UNREADABLE', 'expected a file path or PEM text')
  if (isInlinePem(src)) return { text: src, origin: `${field} (inline PEM)` }
  try {
    return { text: readFileSync(src), origin: src }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new TrustError(field, 'UNREADABLE', `cannot read ${src}: ${e.code ?? ''} ${e.message}`.trim())
  }
}

/** Splits a PEM bundle into single certificates (X509Certificate parses only the first one). */
export function splitPemCertificates(text: string): string[] {
  return (text.match(PEM_CERT) ?? []).map((p) => `${p}\n`)
}

function parseCertificates(field: string, origin: string, text: string | Buffer): LoadedCertificate[] {
  const str = Buffer.isBuffer(text) ? text.toString('latin1') : text
  const pems = splitPemCertificates(str)
  if (pems.length === 0 && Buffer.isBuffer(text) && text.length > 0 && text[0] === 0x30) {
    // A DER file (ASN.1 SEQUENCE): accept it and convert, so users need not reformat.
    try {
      const x509 = new X509Certificate(text)
      return [{ pem: x509.toString(), x509, fingerprint: x509.fingerprint256 }]
    } catch {
      /* fall through to the PEM error */
    }
  }
  if (pems.length === 0) {
    throw new TrustError(field, 'NOT_PEM', `${origin} holds no PEM certificate ("-----BEGIN CERTIFICATE-----" block)`)
  }
  return pems.map((pem, i) => {
    try {
      const x509 = new X509Certificate(pem)
      return { pem, x509, fingerprint: x509.fingerprint256 }
    } catch (err) {
      throw new TrustError(field, 'NOT_PEM', `${origin}: certificate #${i + 1} cannot be parsed: ${(err as Error).message}`)
    }
  })
}

/** SHA-256 fingerprint of the first certificate in a PEM text. */
export function fingerprintOf(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256
}

function describe(c: LoadedCertificate): string {
  return `${c.x509.subject.replace(/\n/g, ', ')} (${c.fingerprint.slice(0, 23)}…)`
}

/** null when valid at `now`, else the problem and a sentence. */
export function checkValidity(c: LoadedCertificate, now: number): { problem: 'EXPIRED' | 'NOT_YET_VALID'; message: string } | null {
  const from = Date.parse(c.x509.validFrom)
  const to = Date.parse(c.x509.validTo)
  if (Number.isFinite(to) && now > to) return { problem: 'EXPIRED', message: `certificate ${describe(c)} expired on ${c.x509.validTo}` }
  if (Number.isFinite(from) && now < from) {
    return { problem: 'NOT_YET_VALID', message: `certificate ${describe(c)} is not valid before ${c.x509.validFrom} (check the clock)` }
  }
  return null
}

/** null when the certificate may be used for `purpose` (no EKU extension allows every purpose). */
export function checkPurpose(c: LoadedCertificate, purpose: CertPurpose): string | null {
  const eku = c.x509.keyUsage
  if (!eku || eku.length === 0 || eku.includes(EKU_OID[purpose]) || eku.includes(ANY_EKU)) return null
  return (
    `certificate ${describe(c)} has an extendedKeyUsage without ${purpose}; TLS refuses it for that role (INVALID_PURPOSE). ` +
    'Regenerate it with extendedKeyUsage=serverAuth,clientAuth'
  )
}

export interface IdentityOptions {
  cert: PemSource
  key: PemSource
  passphrase?: string
  /** The role this certificate plays: a child server needs serverAuth, a parent client clientAuth. */
  purpose: CertPurpose
  /** Option names for error messages (the caller's public names, e.g. "machines.tls.public"). */
  fields?: { cert?: string; key?: string }
  now?: number
}

const EXPIRY_WARNING_MS = 30 * 24 * 3600 * 1000

/** Loads and checks this side's certificate and key. Throws TrustError naming the field and file. */
export function loadIdentity(opts: IdentityOptions): Identity {
  const certField = opts.fields?.cert ?? 'cert'
  const keyField = opts.fields?.key ?? 'key'
  const now = opts.now ?? Date.now()
  const c = readSource(certField, opts.cert)
  const certs = parseCertificates(certField, c.origin, c.text)
  const leaf = certs[0]!
  const k = readSource(keyField, opts.key)
  let key: KeyObject
  try {
    key = createPrivateKey(opts.passphrase === undefined ? { key: k.text } : { key: k.text, passphrase: opts.passphrase })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const hint = /passphrase|decrypt|bad decrypt/i.test(e.message) ? ' (encrypted key: pass the passphrase)' : ''
    throw new TrustError(keyField, 'NOT_A_KEY', `${k.origin} is not a usable PEM private key${hint}: ${e.message}`)
  }
  if (!leaf.x509.checkPrivateKey(key)) {
    throw new TrustError(keyField, 'KEY_MISMATCH', `${k.origin} is not the private key of the certificate in ${c.origin} (${describe(leaf)})`)
  }
  const validity = checkValidity(leaf, now)
  if (validity) throw new TrustError(certField, validity.problem, `${c.origin}: ${validity.message}`)
  const purpose = checkPurpose(leaf, opts.purpose)
  if (purpose) throw new TrustError(certField, 'BAD_EKU', `${c.origin}: ${purpose}`)
  const warnings: string[] = []
  const to = Date.parse(leaf.x509.validTo)
  if (to - now < EXPIRY_WARNING_MS) warnings.push(`${certField}: ${c.origin}: certificate ${describe(leaf)} expires on ${leaf.x509.validTo}`)
  const certPem = certs.map((x) => x.pem).join('')
  return { certPem, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), key, certificate: leaf, warnings }
}

export interface TrustOptions {
  /** The role the PEERS play: a child trusts parents (clientAuth), a parent trusts children (serverAuth). */
  purpose: CertPurpose
  /** Option name for error messages, e.g. "machines.tls.trustedConnections". */
  field?: string
  now?: number
}

/** Loads a trust list into TLS `ca` PEMs and a fingerprint pin map. Throws only on unusable files. */
export function loadTrust(sources: readonly TrustSource[], opts: TrustOptions): TrustStore {
  const field = opts.field ?? 'trust'
  const now = opts.now ?? Date.now()
  if (!Array.isArray(sources) || sources.length === 0) {
    throw new TrustError(field, 'EMPTY', 'is empty: list the certificate of every peer this side accepts')
  }
  const store: TrustStore = { pems: [], pins: new Map(), certificates: [], warnings: [] }
  sources.forEach((entry, i) => {
    const f = `${field}[${i}]`
    const obj = typeof entry === 'object' && !Buffer.isBuffer(entry) ? entry : null
    const src = obj ? (obj.pem ?? obj.path) : (entry as PemSource)
    if (src === undefined) throw new TrustError(f, 'UNREADABLE', 'expected { path } or { pem }')
    const { text, origin } = readSource(f, src)
    const label = obj?.label ?? (obj?.path ?? (typeof entry === 'string' && !isInlinePem(entry) ? entry : undefined))
    for (const cert of parseCertificates(f, origin, text)) {
      const name = label ?? cert.x509.subject.replace(/\n/g, ', ')
      const seen = store.pins.get(cert.fingerprint)
      if (seen !== undefined) {
        store.warnings.push(`${f}: ${origin}: certificate ${describe(cert)} is already trusted as "${seen}"; keeping that label`)
        continue
      }
      const validity = checkValidity(cert, now)
      if (validity) store.warnings.push(`${f}: ${origin}: ${validity.message}; peers presenting it will be refused`)
      const purpose = checkPurpose(cert, opts.purpose)
      if (purpose) store.warnings.push(`${f}: ${origin}: ${purpose}`)
      store.pins.set(cert.fingerprint, name)
      store.pems.push(cert.pem)
      store.certificates.push({ ...cert, label: name })
    }
  })
  return store
}

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TrustError } from '../../src/net/errors.js'
import { fingerprintOf, loadIdentity, loadTrust, splitPemCertificates } from '../../src/net/trust.js'
import { makeCert, makeTempDir, removeDir, type MadeCert } from '../helpers/certs.js'

let dir: string
let a: MadeCert, b: MadeCert, expired: MadeCert, future: MadeCert, serverOnly: MadeCert, noEku: MadeCert, ed: MadeCert

beforeAll(() => {
  dir = makeTempDir()
  a = makeCert(dir, 'a')
  b = makeCert(dir, 'b')
  expired = makeCert(dir, 'expired', { expired: true })
  future = makeCert(dir, 'future', { notYetValid: true })
  serverOnly = makeCert(dir, 'server-only', { eku: 'serverAuth' })
  noEku = makeCert(dir, 'no-eku', { eku: 'none' })
  ed = makeCert(dir, 'ed', { keyType: 'ed25519' })
})
afterAll(() => removeDir(dir))

function problem(fn: () => unknown): { problem: string; field: string; message: string } {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(TrustError)
    return e as TrustError
  }
  throw new Error('expected a TrustError')
}

describe('test certificates (helper)', () => {
  it('computes fingerprints identical to openssl/Node and honours dates', () => {
    expect(fingerprintOf(a.certPem)).toBe(a.fingerprint)
    expect(a.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    expect(problem(() => loadIdentity({ cert: expired.certPath, key: expired.keyPath, purpose: 'clientAuth' })).problem).toBe('EXPIRED')
    expect(problem(() => loadIdentity({ cert: future.certPath, key: future.keyPath, purpose: 'clientAuth' })).problem).toBe('NOT_YET_VALID')
  })
})

describe('loadIdentity', () => {
  it('loads a matching cert/key from paths or inline PEM (P-256 and Ed25519)', () => {
    const id = loadIdentity({ cert: a.certPath, key: a.keyPath, purpose: 'serverAuth' })
    expect(id.certificate.fingerprint).toBe(a.fingerprint)
    expect(loadIdentity({ cert: ed.certPem, key: Buffer.from(ed.keyPem), purpose: 'clientAuth' }).certificate.fingerprint).toBe(ed.fingerprint)
    expect(loadIdentity({ cert: noEku.certPath, key: noEku.keyPath, purpose: 'clientAuth' }).warnings).toEqual([])
    const soon = makeCert(dir, 'soon', { days: 5 })
    expect(loadIdentity({ cert: soon.certPath, key: soon.keyPath, purpose: 'clientAuth' }).warnings[0]).toMatch(/expires on/)
  })

  it('names the field and the path of an unreadable file', () => {
    const e = problem(() => loadIdentity({ cert: join(dir, 'missing.crt'), key: a.keyPath, purpose: 'serverAuth', fields: { cert: 'machines.tls.public' } }))
    expect(e.problem).toBe('UNREADABLE')
    expect(e.field).toBe('machines.tls.public')
    expect(e.message).toContain('missing.crt')
    expect(e.message).toContain('ENOENT')
  })

  it('detects non-PEM files, non-keys, and keys that do not match the certificate', () => {
    const junk = join(dir, 'junk.txt')
    writeFileSync(junk, 'hello')
    expect(problem(() => loadIdentity({ cert: junk, key: a.keyPath, purpose: 'serverAuth' })).problem).toBe('NOT_PEM')
    expect(problem(() => loadIdentity({ cert: a.certPath, key: junk, purpose: 'serverAuth' })).problem).toBe('NOT_A_KEY')
    const e = problem(() => loadIdentity({ cert: a.certPath, key: b.keyPath, purpose: 'serverAuth', fields: { key: 'machines.tls.private' } }))
    expect(e.problem).toBe('KEY_MISMATCH')
    expect(e.field).toBe('machines.tls.private')
  })

  it('requires the EKU of the role when an EKU extension is present', () => {
    expect(loadIdentity({ cert: serverOnly.certPath, key: serverOnly.keyPath, purpose: 'serverAuth' })).toBeTruthy()
    const e = problem(() => loadIdentity({ cert: serverOnly.certPath, key: serverOnly.keyPath, purpose: 'clientAuth' }))
    expect(e.problem).toBe('BAD_EKU')
    expect(e.message).toContain('clientAuth')
  })
})

describe('loadTrust', () => {
  it('splits bundles and pins every certificate under its file label', () => {
    const bundle = join(dir, 'bundle.pem')
    writeFileSync(bundle, `# two peers\n${a.certPem}\n${b.certPem}`)
    expect(splitPemCertificates(`${a.certPem}${b.certPem}`)).toHaveLength(2)
    const t = loadTrust([bundle, { pem: ed.certPem, label: 'host-ed' }], { purpose: 'clientAuth', field: 'trustedConnections' })
    expect(t.pems).toHaveLength(3)
    expect(t.pins.get(a.fingerprint)).toBe(bundle)
    expect(t.pins.get(b.fingerprint)).toBe(bundle)
    expect(t.pins.get(ed.fingerprint)).toBe('host-ed')
    expect(t.warnings).toEqual([])
  })

  it('warns (does not fail) on expired, wrong-purpose and duplicate entries', () => {
    const t = loadTrust([expired.certPath, serverOnly.certPath, a.certPath, a.certPath], { purpose: 'clientAuth', field: 'trust' })
    expect(t.pins.size).toBe(3)
    expect(t.warnings.join('\n')).toMatch(/trust\[0\].*expired/)
    expect(t.warnings.join('\n')).toMatch(/trust\[1\].*clientAuth/)
    expect(t.warnings.join('\n')).toMatch(/trust\[3\].*already trusted/)
  })

  it('fails on an empty list, a missing file (naming index and path) and a non-certificate', () => {
    expect(problem(() => loadTrust([], { purpose: 'serverAuth', field: 'trust' })).problem).toBe('EMPTY')
    const e = problem(() => loadTrust([a.certPath, '/nonexistent/peer.pem'], { purpose: 'serverAuth', field: 'machines.tls.trustedConnections' }))
    expect(e.field).toBe('machines.tls.trustedConnections[1]')
    expect(e.message).toContain('/nonexistent/peer.pem')
    expect(problem(() => loadTrust([a.keyPath], { purpose: 'serverAuth' })).problem).toBe('NOT_PEM')
  })
})

/**
 * Test certificates made with the openssl CLI at test time (never committed). Each certificate is
 * self-signed and is its own trust anchor, as in MACHINES mode. Call from beforeAll: ~10 ms each.
 */
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface CertOptions {
  /** subjectAltName entries. Default ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost']; [] for none. */
  sans?: string[]
  /** extendedKeyUsage. Default 'both' (serverAuth, clientAuth); 'none' omits the extension. */
  eku?: 'both' | 'serverAuth' | 'clientAuth' | 'none'
  /** Valid 2020-01-01..2020-02-01 (signed with explicit dates through `openssl ca`). */
  expired?: boolean
  /** Valid only from 2090 on. */
  notYetValid?: boolean
  /** Validity from now, in days. Default 365. */
  days?: number
  keyType?: 'ec' | 'ed25519'
}

export interface MadeCert {
  certPath: string
  keyPath: string
  certPem: string
  keyPem: string
  fingerprint: string
}

export function makeTempDir(prefix = 'dsm-certs-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

function extSection(o: CertOptions): string {
  const sans = o.sans ?? ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost']
  const lines = ['basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature']
  if (sans.length > 0) lines.push(`subjectAltName = ${sans.join(',')}`)
  const eku = o.eku ?? 'both'
  if (eku === 'both') lines.push('extendedKeyUsage = serverAuth,clientAuth')
  else if (eku !== 'none') lines.push(`extendedKeyUsage = ${eku}`)
  return lines.join('\n')
}

export function makeCert(dir: string, name: string, o: CertOptions = {}): MadeCert {
  const work = join(dir, `${name}.d`)
  mkdirSync(work, { recursive: true })
  const certPath = join(dir, `${name}.crt`)
  const keyPath = join(dir, `${name}.key`)
  const cnf = join(work, 'openssl.cnf')
  writeFileSync(
    cnf,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = ext',
      '[dn]',
      `CN = ${name}`,
      '[ext]',
      extSection(o),
      '[ca]',
      'default_ca = own',
      '[own]',
      'database = index.txt',
      'new_certs_dir = .',
      'serial = serial',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  )
  const newkey = o.keyType === 'ed25519' ? ['-newkey', 'ed25519'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
  if (o.expired || o.notYetValid) {
    // req -x509 in OpenSSL 3.0 cannot backdate; `ca -selfsign` takes explicit start/end dates.
    writeFileSync(join(work, 'index.txt'), '')
    writeFileSync(join(work, 'serial'), '01\n')
    openssl(['req', '-new', '-config', cnf, ...newkey, '-nodes', '-keyout', keyPath, '-out', join(work, 'req.csr')], work)
    const [start, end] = o.expired ? ['20200101000000Z', '20200201000000Z'] : ['20900101000000Z', '20910101000000Z']
    openssl(
      ['ca', '-batch', '-config', cnf, '-selfsign', '-keyfile', keyPath, '-in', join(work, 'req.csr'), '-out', certPath,
        '-startdate', start, '-enddate', end, '-extensions', 'ext', '-notext'],
      work,
    )
  } else {
    openssl(['req', '-x509', '-config', cnf, ...newkey, '-nodes', '-keyout', keyPath, '-out', certPath, '-days', String(o.days ?? 365)], work)
  }
  rmSync(work, { recursive: true, force: true })
  const certPem = readFileSync(certPath, 'utf8')
  return { certPath, keyPath, certPem, keyPem: readFileSync(keyPath, 'utf8'), fingerprint: new X509Certificate(certPem).fingerprint256 }
}

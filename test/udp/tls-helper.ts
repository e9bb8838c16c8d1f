import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'

/** Throwaway self-signed P-256 certs (serverAuth + clientAuth, SAN for both loopbacks). */
export interface TestCerts {
  server: { key: string; cert: string }
  client: { key: string; cert: string }
  cleanup(): void
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'dsm-udp-certs-'))
  const gen = (name: string) => {
    const key = join(dir, `${name}.key`)
    const cert = join(dir, `${name}.crt`)
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
        '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1',
        '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
      ],
      { stdio: 'ignore' },
    )
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') }
  }
  const server = gen('server')
  const client = gen('client')
  return { server, client, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface TlsPair {
  client: tls.TLSSocket
  server: tls.TLSSocket
  close(): Promise<void>
}

/** A real mutual-TLS 1.3 TCP connection on loopback; both sides fully handshaken. */
export async function tlsPair(certs: TestCerts, host = '127.0.0.1', maxVersion: tls.SecureVersion = 'TLSv1.3'): Promise<TlsPair> {
  let serverSide!: (s: tls.TLSSocket) => void
  const serverSocket = new Promise<tls.TLSSocket>((r) => (serverSide = r))
  const server = tls.createServer(
    {
      key: certs.server.key,
      cert: certs.server.cert,
      ca: [certs.client.cert],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: maxVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2',
      maxVersion,
    },
    serverSide,
  )
  await new Promise<void>((r) => server.listen(0, host, r))
  const port = (server.address() as AddressInfo).port
  const client = tls.connect({ host, port, key: certs.client.key, cert: certs.client.cert, ca: [certs.server.cert], maxVersion })
  await new Promise<void>((resolve, reject) => {
    client.once('secureConnect', resolve)
    client.once('error', reject)
  })
  const s = await serverSocket
  return {
    client,
    server: s,
    close: async () => {
      client.destroy()
      s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

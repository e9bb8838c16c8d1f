import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OptionsError, ShardingError } from '../../src/errors.js'
import { deriveUdpKeys, openPacket, parseHeader, sealPacket } from '../../src/net/udp/index.js'
import { makeCerts, tlsPair, type TestCerts, type TlsPair } from './tls-helper.js'

let certs: TestCerts
let pair: TlsPair
beforeAll(async () => {
  certs = makeCerts()
  pair = await tlsPair(certs)
})
afterAll(async () => {
  await pair?.close()
  certs?.cleanup()
})

describe('deriveUdpKeys over a real mTLS 1.3 link', () => {
  it('gives both ends the same material, with directions crossed', () => {
    expect(pair.client.getProtocol()).toBe('TLSv1.3')
    expect(pair.server.authorized && pair.client.authorized).toBe(true)
    const connId = randomBytes(8)
    const c = deriveUdpKeys(pair.client, connId, 0, 'client')
    const s = deriveUdpKeys(pair.server, connId, 0, 'server')
    expect(c.sendKey.equals(s.recvKey)).toBe(true)
    expect(c.sendIv.equals(s.recvIv)).toBe(true)
    expect(c.recvKey.equals(s.sendKey)).toBe(true)
    expect(c.recvIv.equals(s.sendIv)).toBe(true)
    expect(c.sendKey.equals(c.recvKey)).toBe(false)
    expect([c.sendKey.length, c.sendIv.length, c.epoch]).toEqual([32, 12, 0])
    // And they actually interoperate.
    const dg = sealPacket({ cipher: 'aes-256-gcm', key: c.sendKey, iv: c.sendIv, epoch: 0, connId, pn: 9 }, Buffer.from('hi'))
    expect(openPacket('aes-256-gcm', s.recvKey, s.recvIv, parseHeader(dg)!.pn, dg)!.toString()).toBe('hi')
  })

  it('binds the keys to connId and epoch', () => {
    const a = randomBytes(8)
    const b = randomBytes(8)
    const k0 = deriveUdpKeys(pair.client, a, 0, 'client')
    const k1 = deriveUdpKeys(pair.client, a, 1, 'client')
    const kb = deriveUdpKeys(pair.client, b, 0, 'client')
    expect(k0.sendKey.equals(k1.sendKey)).toBe(false)
    expect(k0.sendKey.equals(kb.sendKey)).toBe(false)
    expect(deriveUdpKeys(pair.server, a, 1, 'server').recvKey.equals(k1.sendKey)).toBe(true)
  })

  it('rejects bad arguments', () => {
    expect(() => deriveUdpKeys(pair.client, randomBytes(7), 0, 'client')).toThrow(OptionsError)
    expect(() => deriveUdpKeys(pair.client, randomBytes(8), -1, 'client')).toThrow(OptionsError)
    expect(() => deriveUdpKeys(pair.client, randomBytes(8), 0, 'peer' as never)).toThrow(OptionsError)
  })

  it('refuses a TLS 1.2 session', async () => {
    const p12 = await tlsPair(certs, '127.0.0.1', 'TLSv1.2')
    try {
      expect(p12.client.getProtocol()).toBe('TLSv1.2')
      expect(() => deriveUdpKeys(p12.client, randomBytes(8), 0, 'client')).toThrow(ShardingError)
    } finally {
      await p12.close()
    }
  })

  it('works over IPv6 loopback too', async () => {
    const p6 = await tlsPair(certs, '::1')
    try {
      const id = randomBytes(8)
      expect(deriveUdpKeys(p6.client, id, 3, 'client').sendKey.equals(deriveUdpKeys(p6.server, id, 3, 'server').recvKey)).toBe(true)
    } finally {
      await p6.close()
    }
  })
})

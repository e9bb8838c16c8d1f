/** Shared fixtures of the link integration tests: certificates, links, raw peers, event waits. */
import { EventEmitter } from 'node:events'
import * as tls from 'node:tls'
import { makeCert, makeTempDir, removeDir, type MadeCert } from '../helpers/certs.js'
import { LinkClient, type LinkClientOptions } from '../../src/net/client.js'
import { LinkServer, type LinkServerOptions } from '../../src/net/server.js'
import { encodeFrame } from '../../src/net/frame.js'
import { FrameType, PROTOCOL_VERSION } from '../../src/net/constants.js'
import type { MessageLink } from '../../src/net/link.js'

export interface CertSet {
  dir: string
  child: MadeCert
  parent: MadeCert
  parent2: MadeCert
  stranger: MadeCert
  expired: MadeCert
  serverOnly: MadeCert
  dnsOnly: MadeCert
}

export function makeCertSet(): CertSet {
  const dir = makeTempDir()
  return {
    dir,
    child: makeCert(dir, 'child'),
    parent: makeCert(dir, 'parent'),
    parent2: makeCert(dir, 'parent2', { keyType: 'ed25519' }),
    stranger: makeCert(dir, 'stranger'),
    expired: makeCert(dir, 'expired', { expired: true }),
    serverOnly: makeCert(dir, 'server-only', { eku: 'serverAuth' }),
    dnsOnly: makeCert(dir, 'dns-only', { sans: ['DNS:child-a.internal'] }),
  }
}

export function dropCertSet(c: CertSet | undefined): void {
  if (c) removeDir(c.dir)
}

/** Fast timings so tests run in well under a second per case. */
export const FAST = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 1000,
  handshakeTimeoutMs: 2000,
  ackDelayMs: 5,
  closeTimeoutMs: 500,
} as const

export function serverOpts(c: CertSet, extra: Partial<LinkServerOptions> = {}): LinkServerOptions {
  return {
    nodeId: 'child-a',
    port: 0,
    tls: {
      cert: c.child.certPath,
      key: c.child.keyPath,
      trust: [c.parent.certPath, c.parent2.certPath, c.expired.certPath, c.serverOnly.certPath],
    },
    ...FAST,
    // tests wait for particular refusals, several of the same kind from 127.0.0.1 each second
    refusalsPerSecond: 1000,
    ...extra,
  }
}

export function clientOpts(c: CertSet, port: number, extra: Partial<LinkClientOptions> = {}): LinkClientOptions {
  return {
    nodeId: 'parent-1',
    host: '127.0.0.1',
    port,
    tls: { cert: c.parent.certPath, key: c.parent.keyPath, trust: [c.child.certPath] },
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...FAST,
    ...extra,
  }
}

/** Tracks links and raw sockets so afterEach can close everything. */
export class Cleanup {
  private items: Array<() => Promise<unknown> | unknown> = []
  add<T extends { close(): unknown } | { destroy(): unknown }>(x: T): T {
    this.items.push(() => ('close' in x ? x.close() : x.destroy()))
    return x
  }
  async run(): Promise<void> {
    const items = this.items.splice(0).reverse()
    for (const f of items) await f()
  }
}

/** Resolves with the first event `name` whose payload passes `pred`; rejects after `ms`. */
export function waitEvent<T = any>(em: EventEmitter, name: string, pred: (v: T) => boolean = () => true, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      em.off(name, on)
      reject(new Error(`timed out after ${ms} ms waiting for '${name}'`))
    }, ms)
    const on = (v: T): void => {
      if (!pred(v)) return
      clearTimeout(timer)
      em.off(name, on)
      resolve(v)
    }
    em.on(name, on)
  })
}

/** Collects 'message' events; `until(n)` resolves once n have arrived. */
export function collect(link: EventEmitter): { values: any[]; until(n: number, ms?: number): Promise<any[]> } {
  const values: any[] = []
  const waiters: Array<{ n: number; resolve: (v: any[]) => void }> = []
  link.on('message', (m) => {
    values.push(m)
    for (const w of [...waiters]) if (values.length >= w.n) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(values)
    }
  })
  return {
    values,
    until(n: number, ms = 10_000) {
      if (values.length >= n) return Promise.resolve(values)
      return new Promise((resolve, reject) => {
        const w = { n, resolve: (v: any[]) => { clearTimeout(t); resolve(v) } }
        const t = setTimeout(() => reject(new Error(`only ${values.length}/${n} messages after ${ms} ms`)), ms)
        waiters.push(w)
      })
    },
  }
}

/** Starts a server and a connected client; resolves when both are up. */
export async function connectPair(
  c: CertSet,
  cleanup: Cleanup,
  s: Partial<LinkServerOptions> = {},
  cl: Partial<LinkClientOptions> = {},
): Promise<{ server: LinkServer; client: LinkClient; port: number }> {
  const server = cleanup.add(new LinkServer(serverOpts(c, s)))
  const { port } = await server.listen()
  const client = cleanup.add(new LinkClient(clientOpts(c, port, cl)))
  const up = Promise.all([waitEvent(server, 'up'), waitEvent(client, 'up')])
  client.connect()
  await up
  return { server, client, port }
}

/** Asserts that a link pair still carries messages both ways. */
export async function assertExchanging(a: MessageLink, b: MessageLink, tag: string): Promise<void> {
  const gotB = waitEvent(b, 'message', (m: any) => m?.probe === `${tag}-ab`)
  const gotA = waitEvent(a, 'message', (m: any) => m?.probe === `${tag}-ba`)
  a.send({ probe: `${tag}-ab` })
  b.send({ probe: `${tag}-ba` })
  await Promise.all([gotA, gotB])
}

/** A raw TLS connection (no link logic), for attack cases. Resolves after secureConnect. */
export function rawTls(port: number, o: { cert?: MadeCert; ca: string[]; host?: string }): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host: o.host ?? '127.0.0.1',
      port,
      ca: o.ca,
      ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    })
    sock.once('secureConnect', () => {
      sock.off('error', reject)
      sock.on('error', () => {})
      resolve(sock)
    })
    sock.once('error', reject)
  })
}

export function helloFrame(extra: Record<string, unknown> = {}): Buffer {
  return encodeFrame(FrameType.HELLO, 0, {
    v: PROTOCOL_VERSION,
    minV: PROTOCOL_VERSION,
    role: 'parent',
    nodeId: 'raw-parent',
    caps: ['resume'],
    maxFrame: 1 << 20,
    hb: { interval: 200, timeout: 1000 },
    ...extra,
  })
}

/** Resolves when the socket closes (with whatever it received before). */
export function untilClosed(sock: tls.TLSSocket): Promise<Buffer> {
  const chunks: Buffer[] = []
  sock.on('data', (d: Buffer) => chunks.push(d))
  return new Promise((resolve) => sock.once('close', () => resolve(Buffer.concat(chunks))))
}

/**
 * A TCP relay between client and server that can fail like a real network: `freeze()` stops
 * forwarding without closing anything (a peer that stops answering; new connections are held
 * until `thaw()`, as on a partitioned network), `cutClientSide()` kills the
 * client's half only (the server is left with a half-open connection), `thaw()` resumes forwarding.
 */
export interface Relay {
  port: number
  freeze(): void
  thaw(): void
  cutClientSide(): void
  close(): Promise<void>
}

export async function makeRelay(targetPort: number): Promise<Relay> {
  const { createServer, connect } = await import('node:net')
  const pairs: Array<{ a: import('node:net').Socket; b: import('node:net').Socket; frozen: boolean }> = []
  // While frozen, new connections are accepted but held (not forwarded) until thaw().
  let holding = false
  const held: import('node:net').Socket[] = []
  const forward = (a: import('node:net').Socket): void => {
    const b = connect(targetPort, '127.0.0.1')
    a.on('error', () => {})
    b.on('error', () => {})
    a.pipe(b)
    b.pipe(a)
    a.on('close', () => { if (!pairs.find((p) => p.a === a)?.frozen) b.destroy() })
    b.on('close', () => a.destroy())
    pairs.push({ a, b, frozen: false })
  }
  const srv = createServer((a) => {
    if (!holding) return forward(a)
    a.on('error', () => {})
    a.pause()
    held.push(a)
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  return {
    port,
    freeze() {
      holding = true
      for (const p of pairs) {
        p.frozen = true
        p.a.unpipe(p.b)
        p.b.unpipe(p.a)
        p.a.pause()
        p.b.pause()
      }
    },
    thaw() {
      holding = false
      for (const a of held.splice(0)) if (!a.destroyed) forward(a)
      for (const p of pairs) {
        if (p.a.destroyed || p.b.destroyed) continue
        p.frozen = false
        p.a.pipe(p.b)
        p.b.pipe(p.a)
        p.a.resume()
        p.b.resume()
      }
    },
    cutClientSide() {
      for (const p of pairs) {
        if (p.a.destroyed) continue
        p.frozen = true
        p.a.unpipe(p.b)
        p.b.unpipe(p.a)
        p.b.pause()
        p.a.destroy()
      }
    },
    async close() {
      for (const a of held.splice(0)) a.destroy()
      for (const p of pairs) {
        p.a.destroy()
        p.b.destroy()
      }
      await new Promise((r) => srv.close(r))
    },
  }
}

/**
 * A hand-driven parent: TLS with a trusted certificate, HELLO, then whatever frames the test
 * writes. Every frame the server sends is parsed and kept in `frames`.
 */
export interface RawParent {
  sock: tls.TLSSocket
  frames: import('../../src/net/frame.js').Frame[]
  welcome: Record<string, any>
  /** Resolves with the first received frame (past or future) that passes `pred`. */
  next(pred: (f: import('../../src/net/frame.js').Frame) => boolean, ms?: number): Promise<import('../../src/net/frame.js').Frame>
  closed: Promise<void>
}

export async function rawParent(port: number, c: CertSet, o: { cert?: MadeCert; hello?: Record<string, unknown> } = {}): Promise<RawParent> {
  const { Deframer } = await import('../../src/net/deframer.js')
  const { decodePayload } = await import('../../src/net/frame.js')
  const sock = await rawTls(port, { cert: o.cert ?? c.parent, ca: [c.child.certPem] })
  const frames: RawParent['frames'] = []
  const waiters: Array<{ pred: (f: any) => boolean; resolve: (f: any) => void }> = []
  const deframer = new Deframer((f) => {
    const copy = { ...f, payload: Buffer.from(f.payload) }
    frames.push(copy)
    for (const w of [...waiters]) if (w.pred(copy)) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(copy)
    }
  }, 0xffffffff)
  sock.on('data', (d: Buffer) => deframer.push(d))
  const closed = new Promise<void>((r) => sock.once('close', () => r()))
  const next: RawParent['next'] = (pred, ms = 5000) => {
    const have = frames.find(pred)
    if (have) return Promise.resolve(have)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching frame within ${ms} ms (got types ${frames.map((f) => f.type)})`)), ms)
      waiters.push({ pred, resolve: (f) => { clearTimeout(t); resolve(f) } })
    })
  }
  sock.write(helloFrame({ nodeId: 'raw-parent', ...o.hello }))
  const w = await next((f) => f.type === FrameType.WELCOME || f.type === FrameType.GOAWAY)
  if (w.type !== FrameType.WELCOME) throw new Error(`raw parent refused: ${JSON.stringify(decodePayload(w))}`)
  return { sock, frames, welcome: decodePayload(w) as Record<string, any>, next, closed }
}

/** A MSG frame with an explicit sequence number and payload bytes (which may be anything). */
export function msgFrame(seq: number, payload: Buffer, flags = 0): Buffer {
  const f = Buffer.alloc(10 + payload.length)
  f.writeUInt32BE(6 + payload.length, 0)
  f[4] = FrameType.MSG
  f[5] = flags
  f.writeUInt32BE(seq >>> 0, 6)
  payload.copy(f, 10)
  return f
}

/** Collects what the link layer writes to stderr (rate-limited reports nobody listened for). */
export function captureStderr(): { lines: string[]; restore(): void } {
  const lines: string[] = []
  const original = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((chunk: any, ...rest: any[]) => {
    const text = String(chunk)
    if (text.startsWith('discordoo-sharding:')) {
      lines.push(text)
      return true
    }
    return original(chunk, ...rest)
  }) as typeof process.stderr.write
  return { lines, restore: () => void (process.stderr.write = original) }
}

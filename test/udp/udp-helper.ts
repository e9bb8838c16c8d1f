import { randomBytes } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import { UdpEndpoint, deriveUdpKeys, type UdpChannel, type UdpChannelOptions, type UdpKeys, type UdpRemote } from '../../src/net/udp/index.js'

export type Family = 'udp4' | 'udp6'
export const LOOPBACK: Record<Family, string> = { udp4: '127.0.0.1', udp6: '::1' }

import { prng } from '../helpers/prng.js'

export { prng }

/** `n` payloads, log-uniform between 10 B and 60 KiB, each stamped with its index. */
export function mixedPayloads(n: number, seed: number): Buffer[] {
  const rnd = prng(seed)
  return Array.from({ length: n }, (_, i) => {
    const size = Math.round(10 * Math.pow(6144, rnd()))
    const b = randomBytes(size)
    b.writeUInt32BE(i, 0)
    return b
  })
}

export function randomKeys(): { client: UdpKeys; server: UdpKeys } {
  const [a, b, c, d] = [randomBytes(32), randomBytes(32), randomBytes(12), randomBytes(12)]
  return { client: { sendKey: a, sendIv: c, recvKey: b, recvIv: d, epoch: 0 }, server: { sendKey: b, sendIv: d, recvKey: a, recvIv: c, epoch: 0 } }
}

export interface Pair {
  host: string
  connId: Buffer
  server: UdpEndpoint
  client: UdpEndpoint
  sc: UdpChannel
  cc: UdpChannel
  close(): Promise<void>
}

type Extra = Partial<Omit<UdpChannelOptions, 'socket' | 'remote' | 'connId' | 'keys' | 'role'>>

export interface PairOptions {
  tls?: { client: TLSSocket; server: TLSSocket }
  common?: Extra
  server?: Extra
  client?: Extra
}

/** Two endpoints on loopback with one channel each, keyed from a TLS pair when given. */
export async function channelPair(family: Family, o: PairOptions = {}): Promise<Pair> {
  const host = LOOPBACK[family]
  const server = new UdpEndpoint({ type: family, address: host })
  const client = new UdpEndpoint({ type: family, address: host })
  const [sa, ca] = await Promise.all([server.listen(), client.listen()])
  const connId = randomBytes(8)
  const keys = o.tls
    ? { client: deriveUdpKeys(o.tls.client, connId, 0, 'client'), server: deriveUdpKeys(o.tls.server, connId, 0, 'server') }
    : randomKeys()
  const sc = server.createChannel({ remote: { address: host, port: ca.port }, connId, keys: keys.server, role: 'server', ...o.common, ...o.server })
  const cc = client.createChannel({ remote: { address: host, port: sa.port }, connId, keys: keys.client, role: 'client', ...o.common, ...o.client })
  return {
    host,
    connId,
    server,
    client,
    sc,
    cc,
    close: async () => {
      await Promise.all([server.close(), client.close()])
    },
  }
}

/** Resolves once `n` messages have arrived; checks order and content against `expected` as they come. */
export function collect(ch: UdpChannel, expected: Buffer[]): { done: Promise<void>; got: () => number } {
  let got = 0
  let fail: ((e: Error) => void) | undefined
  let ok: (() => void) | undefined
  const done = new Promise<void>((res, rej) => {
    ok = res
    fail = rej
  })
  ch.on('message', (m) => {
    const want = expected[got]
    if (!want || !m.equals(want)) {
      fail!(new Error(`message #${got}: got ${m.length} B (index ${m.length >= 4 ? m.readUInt32BE(0) : '?'}), want ${want?.length} B`))
      return
    }
    if (++got === expected.length) ok!()
  })
  ch.once('dead', (reason) => {
    if (got < expected.length) fail!(new Error(`channel died: ${reason}`))
  })
  // Rejections surface through `await done`; never as an unhandled rejection when a test gives up early.
  done.catch(() => {})
  return { done, got: () => got }
}

/** Poll a condition on each event-loop turn (no fixed sleeps); rejects after `ms`. */
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** Both sides have nothing queued or in flight: all data acknowledged. */
export function quiescent(p: Pair): boolean {
  const a = p.sc.stats()
  const b = p.cc.stats()
  return a.queuedMessages === 0 && b.queuedMessages === 0 && a.inFlight === 0 && b.inFlight === 0
}

/**
 * In-process lossy network: wraps a channel's send path. Drops, duplicates and reorders datagrams
 * (a reordered datagram is held back and released after the current burst).
 */
export function lossyTransmit(
  socketSend: (dg: Buffer, remote: UdpRemote) => void,
  rnd: () => number,
  p: { drop: number; dup: number; reorder: number },
) {
  const counts = { total: 0, dropped: 0, duplicated: 0, reordered: 0 }
  let held: [Buffer, UdpRemote][] = []
  let scheduled = false
  const release = () => {
    scheduled = false
    const h = held
    held = []
    // Release in reverse to maximise reordering among the held ones too.
    for (let i = h.length - 1; i >= 0; i--) socketSend(h[i]![0], h[i]![1])
  }
  const transmit = (dg: Buffer, remote: UdpRemote) => {
    counts.total++
    if (rnd() < p.drop) {
      counts.dropped++
      return
    }
    if (rnd() < p.dup) {
      counts.duplicated++
      socketSend(dg, remote)
    }
    if (rnd() < p.reorder) {
      counts.reordered++
      held.push([dg, { ...remote }])
      if (!scheduled) {
        scheduled = true
        setImmediate(release)
      }
      return
    }
    socketSend(dg, remote)
  }
  return { transmit, counts }
}

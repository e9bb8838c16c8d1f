/**
 * Puts the encrypted UDP channel (src/net/udp) under a machine link. The TLS link stays the control
 * path and the fallback: UDP_SETUP/UDP_REKEY travel over it, keys come from its exporter, and when
 * the channel dies the link re-sends everything unacknowledged over TLS (see Link).
 *
 * Exchange (both frames are UDP_SETUP, the reply echoes the request id):
 *   parent → child  { op: 'setup', connId: 8 bytes, port: parent's UDP port }
 *   child → parent  { op: 'ok', connId, port: child's UDP port } | { op: 'refused', connId, reason }
 * Rekey: the side whose channel asks ('rekeyNeeded') sends UDP_REKEY { connId, epoch } and switches;
 * the other switches when it reads it. Both derive keys for (connId, epoch) from the same exporter.
 * A channel lives as long as its TLS connection: after a reconnect the parent sets up a new one.
 */
import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { ShardingError } from '../errors.js'
import { Capability, FrameType } from './constants.js'
import type { ControlEvent, Link } from './link.js'
import { deriveUdpKeys, type UdpChannel, type UdpChannelOptions, type UdpEndpoint, type UdpRole } from './udp/index.js'

/** Channel tuning the caller may pass through (everything but what the setup decides). */
export type UdpTuning = Omit<UdpChannelOptions, 'socket' | 'remote' | 'connId' | 'keys' | 'role'>

const CONN_ID_BYTES = 8

function isConnId(v: unknown): v is Buffer {
  return Buffer.isBuffer(v) && v.length === CONN_ID_BYTES
}

function asRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {}
}

/** The peer's TCP address in the form the endpoint's socket family can send to. */
function udpAddress(endpoint: UdpEndpoint, tcpAddress: string): string {
  const family = endpoint.socket.address().family
  const v = isIP(tcpAddress)
  if (family === 'IPv6' && v === 4) return `::ffff:${tcpAddress}`
  if (family === 'IPv4' && v === 6) {
    if (tcpAddress.toLowerCase().startsWith('::ffff:') && tcpAddress.includes('.')) return tcpAddress.slice(7)
    throw new ShardingError('UDP_FAMILY', `the link peer is ${tcpAddress} (IPv6) but the UDP endpoint is udp4; use 'udp6'`)
  }
  return tcpAddress
}

/**
 * The channel's RTT estimate starts from the TLS link's heartbeat RTT when there is one, so its
 * first probe timeouts fit the real path instead of a guess; explicit tuning wins.
 */
function withLinkRtt(link: Link, tuning: UdpTuning): UdpTuning {
  const rtt = link.stats().rttMs
  return tuning.initialRttMs === undefined && rtt !== null && rtt > 0 ? { ...tuning, initialRttMs: Math.min(Math.max(rtt, 0.1), 60_000) } : tuning
}

/** Rekey plumbing shared by both sides; returns the UDP_REKEY handler. */
function wireRekey(link: Link, ch: UdpChannel, role: UdpRole): (value: unknown) => void {
  const rotate = (epoch: number): void => {
    const sock = link.tlsSocket
    if (!sock || ch.isDead) return
    ch.rekey(deriveUdpKeys(sock, ch.connId, epoch, role))
  }
  ch.on('rekeyNeeded', (epoch: number) => {
    if (!link.up || ch.isDead) return
    link.sendControl(FrameType.UDP_REKEY, { connId: ch.connId, epoch })
    rotate(epoch)
  })
  return (value) => {
    const r = asRecord(value)
    if (!isConnId(r.connId) || !r.connId.equals(ch.connId) || typeof r.epoch !== 'number') return
    if (r.epoch === ch.epoch + 1) rotate(r.epoch) // equal: both asked at once and already rotated
  }
}

/**
 * Child side: answers UDP_SETUP requests on `link` with channels on `endpoint` (bound by the caller,
 * by convention on the link's port number). Returns a function that stops serving.
 */
export function serveUdp(link: Link, endpoint: UdpEndpoint, tuning: UdpTuning = {}): () => void {
  let onRekey: ((value: unknown) => void) | null = null
  const onControl = (e: ControlEvent): void => {
    if (e.type === FrameType.UDP_REKEY) return onRekey?.(e.value)
    if (e.type !== FrameType.UDP_SETUP) return
    const req = asRecord(e.value)
    if (req.op !== 'setup' || !isConnId(req.connId)) return
    const connId = req.connId
    try {
      const port = req.port
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error('bad port in UDP_SETUP')
      const sock = link.tlsSocket
      const peer = link.peerInfo
      if (!sock || !peer) throw new Error('the link is down')
      const keys = deriveUdpKeys(sock, connId, 0, 'server')
      // allowAddressChange: a NAT may map the parent's port; the channel follows authenticated packets only.
      const ch = endpoint.createChannel({ ...withLinkRtt(link, tuning), remote: { address: udpAddress(endpoint, sock.remoteAddress ?? peer.remoteAddress), port }, connId, keys, role: 'server', allowAddressChange: true })
      link.sendControl(FrameType.UDP_SETUP, { op: 'ok', connId, port: endpoint.address().port }, e.id)
      onRekey = wireRekey(link, ch, 'server')
      link.attachDatagramTransport(ch)
    } catch (err) {
      if (link.up) link.sendControl(FrameType.UDP_SETUP, { op: 'refused', connId, reason: (err as Error).message }, e.id)
    }
  }
  link.on('control', onControl)
  return () => {
    link.off('control', onControl)
    link.detachDatagramTransport()
  }
}

export interface StartUdpOptions {
  /** Max ms to wait for the child's reply. Default 5000. */
  timeoutMs?: number
  tuning?: UdpTuning
}

/**
 * Parent side: asks the child for a UDP channel on the current connection and attaches it.
 * Resolves with the channel, or null when 'udp' was not negotiated; rejects when the child
 * refuses or does not answer (the link keeps working over TLS either way).
 */
export async function startUdp(link: Link, endpoint: UdpEndpoint, o: StartUdpOptions = {}): Promise<UdpChannel | null> {
  if (!link.up || !link.caps.includes(Capability.UDP)) return null
  const connId = randomBytes(CONN_ID_BYTES)
  const id = randomBytes(4).readUInt32BE(0)
  const sock = link.tlsSocket!
  const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const done = (err: Error | null, v?: Record<string, unknown>): void => {
      clearTimeout(timer)
      link.off('control', onControl)
      link.off('down', onDown)
      if (err) reject(err)
      else resolve(v!)
    }
    const onControl = (e: ControlEvent): void => {
      const r = asRecord(e.value)
      if (e.type === FrameType.UDP_SETUP && e.id === id && isConnId(r.connId) && r.connId.equals(connId)) done(null, r)
    }
    const onDown = (): void => done(new ShardingError('LINK_DOWN', 'the link went down during UDP setup'))
    const timer = setTimeout(() => done(new ShardingError('UDP_SETUP_TIMEOUT', `no UDP_SETUP reply within ${o.timeoutMs ?? 5000} ms`)), o.timeoutMs ?? 5000)
    link.on('control', onControl)
    link.on('down', onDown)
    link.sendControl(FrameType.UDP_SETUP, { op: 'setup', connId, port: endpoint.address().port }, id)
  })
  if (reply.op !== 'ok' || typeof reply.port !== 'number') {
    throw new ShardingError('UDP_REFUSED', `the child refused UDP: ${typeof reply.reason === 'string' ? reply.reason : 'no reason given'}`)
  }
  if (link.tlsSocket !== sock) throw new ShardingError('LINK_DOWN', 'the link reconnected during UDP setup')
  const keys = deriveUdpKeys(sock, connId, 0, 'client')
  const ch = endpoint.createChannel({ ...withLinkRtt(link, o.tuning ?? {}), remote: { address: udpAddress(endpoint, sock.remoteAddress!), port: reply.port }, connId, keys, role: 'client' })
  const onRekey = wireRekey(link, ch, 'client')
  const onControl = (e: ControlEvent): void => {
    if (e.type === FrameType.UDP_REKEY) onRekey(e.value)
  }
  link.on('control', onControl)
  ch.once('dead', () => link.off('control', onControl))
  link.attachDatagramTransport(ch)
  return ch
}

/**
 * Parent side, hands-off: sets up UDP after every 'up' (a channel never outlives its TLS
 * connection). Setup failures go to `onError` and the link stays on TLS. Returns a stop function.
 */
export function autoUdp(link: Link, endpoint: UdpEndpoint, o: StartUdpOptions & { onError?: (err: Error) => void } = {}): () => void {
  const onUp = (): void => {
    startUdp(link, endpoint, o).catch((err: Error) => o.onError?.(err))
  }
  link.on('up', onUp)
  if (link.up) onUp()
  return () => {
    link.off('up', onUp)
    link.detachDatagramTransport()
  }
}

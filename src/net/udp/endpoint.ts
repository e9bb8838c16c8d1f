import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import type { AddressInfo } from 'node:net'
import { OptionsError } from '../../errors.js'
import { UdpChannel } from './channel.js'
import { CONN_ID_BYTES } from './keys.js'
import type { UdpChannelOptions } from './options.js'
import { PACKET_OVERHEAD, PACKET_TYPE_PROTECTED } from './packet.js'

export interface UdpEndpointOptions {
  type: 'udp4' | 'udp6'
  /** Server side: the child's port (by convention the same number as its TCP port). Default 0 = ephemeral (client side). */
  port?: number
  /** Bind address. Default: all interfaces of the family. */
  address?: string
  /** udp6 only: refuse IPv4-mapped traffic. Default false (dual stack). */
  ipv6Only?: boolean
  /** SO_RCVBUF / SO_SNDBUF in bytes; the OS default (~208 KiB on Linux) holds about 170 full datagrams. */
  recvBufferSize?: number
  sendBufferSize?: number
}

export interface UdpEndpointStats {
  datagramsReceived: number
  /** Datagrams whose connId matches no registered channel. */
  droppedUnknown: number
  /** Too short, or not our packet type. */
  droppedMalformed: number
  channels: number
}

export interface UdpEndpointEvents {
  /** Socket-level errors after binding; only emitted when someone listens (never crashes the process). */
  error: [err: Error]
}

/**
 * Owns one dgram socket and routes incoming datagrams to channels by connId. Nothing about a datagram
 * is trusted here: the connId lookup is only routing, and the channel authenticates.
 */
export class UdpEndpoint extends EventEmitter<UdpEndpointEvents> {
  readonly socket: Socket
  private readonly channels = new Map<string, UdpChannel>()
  private readonly opts: UdpEndpointOptions
  private bound = false
  private closed = false
  private readonly s = { datagramsReceived: 0, droppedUnknown: 0, droppedMalformed: 0 }
  /** The last socket error, kept for diagnostics when nobody listens for 'error'. */
  lastError: Error | null = null

  constructor(options: UdpEndpointOptions) {
    super()
    if (!options || (options.type !== 'udp4' && options.type !== 'udp6')) throw new OptionsError('udp', "must be 'udp4' or 'udp6'")
    const port = options.port ?? 0
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OptionsError('udp.port', 'must be an integer between 0 and 65535')
    this.opts = { ...options, port }
    this.socket = createSocket({
      type: options.type,
      ipv6Only: options.type === 'udp6' ? options.ipv6Only === true : undefined,
      recvBufferSize: options.recvBufferSize,
      sendBufferSize: options.sendBufferSize,
    })
    this.socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo))
    this.socket.on('error', (err) => {
      this.lastError = err
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  /** Bind the socket. Resolves with the bound address (read `.port` when binding port 0). */
  listen(): Promise<AddressInfo> {
    if (this.bound) return Promise.resolve(this.socket.address())
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err)
      this.socket.once('error', onError)
      this.socket.bind({ port: this.opts.port, address: this.opts.address }, () => {
        this.socket.off('error', onError)
        this.bound = true
        resolve(this.socket.address())
      })
    })
  }

  address(): AddressInfo {
    return this.socket.address()
  }

  /** Create a channel on this endpoint's socket and register it. */
  createChannel(options: Omit<UdpChannelOptions, 'socket'>): UdpChannel {
    const ch = new UdpChannel({ ...options, socket: this.socket })
    this.register(ch)
    return ch
  }

  /** Route datagrams carrying `channel.connId` to it. A dead channel unregisters itself. */
  register(channel: UdpChannel): void {
    if (this.closed) throw new OptionsError('udp', 'endpoint is closed')
    if (channel.socket !== this.socket) throw new OptionsError('udp.socket', "the channel must use this endpoint's socket")
    if (channel.isDead) return // it could never unregister itself
    const key = channel.connId.toString('latin1')
    const existing = this.channels.get(key)
    if (existing && existing !== channel) throw new OptionsError('udp.connId', 'a channel with this connId is already registered')
    this.channels.set(key, channel)
    channel.once('dead', () => {
      if (this.channels.get(key) === channel) this.channels.delete(key)
    })
  }

  unregister(connId: Buffer): boolean {
    return this.channels.delete(connId.toString('latin1'))
  }

  channel(connId: Buffer): UdpChannel | undefined {
    return this.channels.get(connId.toString('latin1'))
  }

  stats(): UdpEndpointStats {
    return { ...this.s, channels: this.channels.size }
  }

  /** Kill every channel (without notifying peers; the TLS link tells them) and close the socket. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    for (const ch of [...this.channels.values()]) ch.destroy('endpoint-closed')
    this.channels.clear()
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve())
      } catch {
        resolve() // never bound or already closed
      }
    })
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    this.s.datagramsReceived++
    if (msg.length < PACKET_OVERHEAD || msg[0] !== PACKET_TYPE_PROTECTED) {
      this.s.droppedMalformed++
      return
    }
    const ch = this.channels.get(msg.toString('latin1', 2, 2 + CONN_ID_BYTES))
    if (!ch) {
      this.s.droppedUnknown++
      return
    }
    ch.receive(msg, rinfo)
  }
}

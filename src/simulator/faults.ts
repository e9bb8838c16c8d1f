import { OptionsError } from '../errors.js'
import type { ShardSelector } from './admin-types.js'
import type { GatewayConnection } from './gateway-connection.js'
import type { GatewayHandler } from './gateway-handler.js'
import type { ResolvedSimulatorOptions } from './options.js'
import { GatewayCloseCode, GatewayOp } from './protocol.js'
import type { Session, GatewaySessions } from './sessions.js'

/** Fault injection on a shard's connected sessions: the admin calls tests use to break things on purpose. */
export class FaultInjector {
  constructor(
    private readonly sessionStore: GatewaySessions,
    private readonly handler: GatewayHandler,
    private readonly zombieShards: Set<number>,
    private readonly options: () => ResolvedSimulatorOptions,
  ) {}

  /** Server-closes the sockets of a shard's sessions with `code` (default 4000). Returns how many. */
  closeShard(shardId: number, code: number = GatewayCloseCode.UnknownError, opts: ShardSelector & { reason?: string } = {}): number {
    if (!Number.isInteger(code) || code < 1000 || code > 4999) throw new OptionsError('code', `must be a close code from 1000 to 4999, got ${code}`)
    const targets = this.connected(shardId, opts)
    for (const s of targets) s.socket?.close(code, opts.reason ?? 'Closed by simulator.')
    return targets.length
  }

  /** Sends op 7 to a shard's sessions, then force-closes with 4000 after `closeAfterMs` (default `reconnectCloseDelayMs`). */
  reconnect(shardId: number, opts: ShardSelector & { closeAfterMs?: number } = {}): number {
    const delay = opts.closeAfterMs ?? this.options().reconnectCloseDelayMs
    const targets = this.connected(shardId, opts)
    for (const s of targets) {
      const socket = s.socket
      if (!socket) continue
      socket.sendOp(GatewayOp.Reconnect, null)
      socket.later(delay, () => socket.close(GatewayCloseCode.UnknownError, 'Reconnect requested.'))
    }
    return targets.length
  }

  /**
   * Sends op 9 to a shard's sessions. `resumable` true keeps the session (the client may RESUME, even on
   * the same socket); false ends it. Either way the socket is unauthenticated afterwards.
   */
  invalidateSession(shardId: number, resumable: boolean, opts: ShardSelector = {}): number {
    const targets = this.connected(shardId, opts)
    for (const s of targets) {
      const socket = s.socket as GatewayConnection
      this.handler.invalidSession(socket, resumable, 'admin')
      socket.deauthenticate()
      if (resumable) this.sessionStore.detach(s, socket, true, this.options().resumeWindowMs, 'invalidated')
      else this.sessionStore.end(s, 'invalidated')
    }
    return targets.length
  }

  /** Sends op 1 (the client must heartbeat at once) to a shard's sessions. */
  requestHeartbeat(shardId: number, opts: ShardSelector = {}): number {
    const targets = this.connected(shardId, opts)
    for (const s of targets) s.socket?.sendOp(GatewayOp.Heartbeat, null)
    return targets.length
  }

  /** While on, heartbeats from this shard's sessions get no ACK (a "zombie" connection). */
  zombie(shardId: number, on: boolean): boolean {
    if (on) this.zombieShards.add(shardId)
    else this.zombieShards.delete(shardId)
    return on
  }

  private connected(shardId: number, opts: ShardSelector): Session[] {
    if (!Number.isInteger(shardId) || shardId < 0) throw new OptionsError('shardId', `must be a non-negative integer, got ${shardId}`)
    return this.sessionStore.forShard(shardId, opts.total).filter((s) => s.connected)
  }

}

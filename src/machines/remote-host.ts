/**
 * How a child manager's instances reach the root: identify turns, start slots and everything a bot
 * asks of the manager tier go to the parent over the link; sessions are kept here too, so a local
 * respawn can RESUME even while the parent is unreachable.
 */
import type { Instance } from '../manager/instance.js'
import type { InstanceHost } from '../manager/instance-host.js'
import { SessionStore } from '../manager/session-store.js'
import type { StartSlot } from '../manager/start-gate.js'
import type { SessionInfo } from '../runtime/context.js'
import { encodeValue } from '../ipc/values.js'
import type { Assignment, ChildMessage } from './protocol.js'
import { FORWARDED_EVENTS } from './protocol.js'
import type { LinkRpc } from './rpc.js'

const FORWARDED: ReadonlySet<string> = new Set(FORWARDED_EVENTS)

export class RemoteHost implements InstanceHost {
  readonly sessions = new SessionStore()

  constructor(
    private readonly assignment: Assignment,
    private readonly rpc: LinkRpc,
    private readonly sendToParent: (msg: ChildMessage) => void,
    private readonly emitLocal: (name: string, ...args: unknown[]) => void,
  ) {}

  get machineId(): string {
    return this.assignment.machineId
  }

  get totalShards(): number {
    return this.assignment.totalShards
  }

  async identify(shardId: number, signal: AbortSignal): Promise<void> {
    // No timeout: if the parent is out of reach, identifies wait; they never guess.
    await this.rpc.call('identify', { shardId }, 0, signal)
  }

  async acquireStart(holder: string, signal: AbortSignal): Promise<StartSlot> {
    return (await this.rpc.call('startSlot', { holder }, 0, signal)) as StartSlot
  }

  releaseStart(slot: StartSlot, outcome: 'ready' | 'failed'): void {
    if (slot.exclusive) this.sendToParent({ t: 'release', d: { holder: slot.holder, outcome } })
  }

  noteCoordinatedIdentify(): void {
    // The parent sees the identify request itself.
  }

  noteUncoordinatedIdentifies(shards: number[]): void {
    this.sendToParent({ t: 'uncoordinated', d: { shards } })
  }

  sessionsFor(shards: number[]): Record<number, SessionInfo> {
    return this.sessions.forShards(shards, this.totalShards)
  }

  updateSession(shardId: number, session: SessionInfo | null): void {
    this.sessions.update(shardId, session)
    this.sendToParent({ t: 'session', d: { shardId, session } })
  }

  handleInstanceRequest(from: Instance, kind: string, data: Record<string, unknown>): Promise<unknown> {
    const origin = { instance: from.id, machine: from.machine, shards: [...from.shards] }
    const timeout = typeof data.timeout === 'number' ? data.timeout : this.assignment.timeouts.request
    return this.rpc.call('bot', { origin, botKind: kind, data }, timeout + 1000)
  }

  handleRawMessage(from: Instance, message: unknown): void {
    const origin = { instance: from.id, machine: from.machine, shards: [...from.shards] }
    this.emitEvent('message', message, origin)
    this.sendToParent({ t: 'event', d: { name: 'message', args: encodeValue([message, origin]) } })
  }

  emitEvent(name: string, ...args: unknown[]): void {
    this.emitLocal(name, ...args)
    if (FORWARDED.has(name)) this.sendToParent({ t: 'event', d: { name, args: encodeValue(args) } })
  }
}

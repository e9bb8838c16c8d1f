/**
 * What an instance needs from the manager above it. A single-machine manager answers these itself;
 * a child manager (MACHINES) forwards identify turns, start slots and cross-machine requests to
 * its parent. Instances never know which.
 */
import type { SessionInfo } from '../runtime/context.js'
import type { StartSlot } from './start-gate.js'
import type { Instance } from './instance.js'

export interface InstanceHost {
  readonly machineId: string
  readonly totalShards: number
  /** Resolves when the identify authority grants the shard its turn. */
  identify(shardId: number, signal: AbortSignal): Promise<void>
  acquireStart(holder: string, signal: AbortSignal): Promise<StartSlot>
  releaseStart(slot: StartSlot, outcome: 'ready' | 'failed'): void
  /** An instance asked for an identify turn: the bot coordinates through us. */
  noteCoordinatedIdentify(): void
  /** An instance of an unmodified bot became ready: its shards identified on their own just now. */
  noteUncoordinatedIdentifies(shards: number[]): void
  sessionsFor(shards: number[]): Record<number, SessionInfo>
  updateSession(shardId: number, session: SessionInfo | null): void
  /** broadcast / send / managerRequest / respawnAll from an instance. */
  handleInstanceRequest(from: Instance, kind: string, data: Record<string, unknown>): Promise<unknown>
  /** A raw message an instance sent with discord.js's client.shard.send(). */
  handleRawMessage(from: Instance, message: unknown): void
  /** Manager-level events (instanceSpawn, shardReady, error, debug, ...). */
  emitEvent(name: string, ...args: unknown[]): void
}

/**
 * What an instance needs from the manager above it, in three groups: the bot's root services
 * (identify turns, start slots, sessions), the manager tier a bot talks to (broadcasts, messages,
 * requests), and events. A single-machine manager answers everything itself; a child manager
 * (MACHINES) forwards root services and cross-machine traffic to its parent. Instances never know
 * which.
 */
import type { GatewayHandOver, SessionInfo } from '../runtime/context.js'
import type { CallContext } from '../rpc/endpoint.js'
import type { Origin } from './bot-requests.js'
import type { StartSlot } from './start-gate.js'

/** The bot's one identify authority, start gate and session store (here or on the parent). */
export interface RootServices {
  /** Resolves when the authority grants the shard its turn; rejects when `signal` aborts. */
  identify(shardId: number, signal: AbortSignal): Promise<void>
  /**
   * The shard's IDENTIFY has left (its runtime says so right after sending): the key's next turn may
   * come sooner. `sentAgoMs`: how long ago, by this host's clock (omitted: just now).
   */
  identifySent(shardId: number, sentAgoMs?: number): void
  acquireStart(holder: string, shards: number[], signal: AbortSignal): Promise<StartSlot>
  releaseStart(slot: StartSlot, outcome: 'ready' | 'failed'): void
  /**
   * How an instance's shards identify: `coordinated` (it asked for a turn: the bot coordinates
   * through us), `announced` (its runtime says it will ask, before it connects) or `uncoordinated`
   * (it became ready without asking: its own throttler identified these shards just now).
   */
  noteIdentifies(how: 'coordinated' | 'announced' | 'uncoordinated', shards: number[]): void
  /** Sessions of these shards opened with `totalShards` (what a respawned instance may RESUME). */
  sessionsFor(shards: number[], totalShards: number): Record<number, SessionInfo>
  updateSession(shardId: number, totalShards: number, session: SessionInfo | null): void
  /** /gateway/bot for a new instance's discord.js client, when this tier knows it (the root manager does). */
  gatewayHandOver?(): GatewayHandOver | null
}

/** The manager tier as a bot sees it. */
export interface BotServices {
  /** broadcast / djsBroadcast / send / managerRequest / respawnAll from an instance. */
  request(from: Origin, kind: string, data: Record<string, unknown>, ctx: CallContext): Promise<unknown>
  /** A raw message an instance sent with discord.js's client.shard.send(). */
  rawMessage(from: Origin, message: unknown): void
}

export interface InstanceHost {
  readonly machineId: string
  readonly totalShards: number
  /** Whether the host's shard set serves the bot now (false for a re-shard's new set until the switch). */
  readonly active: boolean
  /** Default deadline of calls that discord.js's protocol makes without one, ms. */
  readonly requestTimeout: number
  readonly root: RootServices
  readonly bot: BotServices
  /** Manager-level events (instanceSpawn, shardReady, error, debug, ...). */
  emitEvent(name: string, ...args: unknown[]): void
}

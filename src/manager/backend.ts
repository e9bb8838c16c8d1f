/** What each kind of manager (single machine, MACHINES parent, MACHINES child) does behind ShardingManager's API. */
import type { FanoutEntry, Target } from '../ipc/targets.js'
import type { CallScope } from '../rpc/endpoint.js'
import type { InstanceAction, InstanceInfo } from './instance.js'
import type { IdentifyBudget } from './identify-scheduler.js'
import type { ReshardOptions } from './reshard.js'

export interface MachineStatus {
  id: string
  state: string
  host?: string
  /** MACHINES parent: the link to this machine (round trip, whether messages use UDP, resumes, messages awaiting acknowledgement). */
  link?: { up: boolean; rttMs: number | null; udp: boolean; resumes: number; queued: number }
  instances: InstanceInfo[]
  /** MACHINES: a spare point (runs nothing until a machine is lost). */
  spare?: boolean
  /** MACHINES: this machine was lost and its range now runs on that machine. */
  movedTo?: string
}

export interface ManagerStatus {
  mode: string
  role: 'local' | 'parent' | 'child'
  totalShards: number | null
  ready: boolean
  identify: { granted: number; sendsConfirmed?: number; waiting: number; maxConcurrency: number; spacingMs: number; strategy: string; budget?: IdentifyBudget } | null
  machines: MachineStatus[]
  /** While a re-shard runs: the new set (its instances, or per machine in MACHINES mode). */
  reshard?: { totalShards: number; instances?: InstanceInfo[]; machines?: MachineStatus[] }
}

export interface Backend {
  readonly totalShards: number | null
  start(): Promise<void>
  stop(): Promise<void>
  /** One entry per instance; with `failFast`, only the first failed entry as soon as one fails (see allUnlessOneFails). */
  fanout(action: InstanceAction, target: Target, scope: CallScope, failFast?: boolean): Promise<FanoutEntry[]>
  respawn(instanceId: number, scope: CallScope): Promise<void>
  rollingRestart(scope: CallScope): Promise<void>
  /** Runs a new shard set beside the old one and switches to it (not on a MACHINES child). */
  reshard?(options: ReshardOptions): Promise<void>
  status(): ManagerStatus
}

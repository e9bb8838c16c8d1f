/**
 * What a parent and a child manager say to each other over their link (besides req/res/cancel,
 * see rpc.ts). Messages are plain data; user values inside are already encoded (ipc/values.ts).
 */
import type { ResolvedOptions } from '../manager/options.js'
import type { InstanceInfo } from '../manager/instance.js'
import type { SessionInfo } from '../runtime/context.js'

/** The slice of the bot a child runs, derived from the point's childManagerOptions. */
export interface Assignment {
  machineId: string
  mode: 'processes' | 'workers'
  shards: number[]
  totalShards: number
  shardsPerInstance: number
  firstInstanceId: number
  env: Record<string, string>
  execArgv: string[]
  args: string[]
  respawn: boolean
  restarts: ResolvedOptions['restarts']
  timeouts: ResolvedOptions['timeouts']
}

/** parent → child */
export type ParentMessage = { t: 'assign'; d: Assignment }

/** child → parent */
export type ChildMessage =
  | { t: 'assigned'; d: { adopted: boolean; sessions: Record<number, SessionInfo>; instances: InstanceInfo[] } }
  | { t: 'release'; d: { holder: string; outcome: 'ready' | 'failed' } }
  | { t: 'session'; d: { shardId: number; session: SessionInfo | null } }
  | { t: 'uncoordinated'; d: { shards: number[] } }
  /** `args` are encoded with ipc/values.ts so errors and infos arrive intact. */
  | { t: 'event'; d: { name: string; args: unknown } }
  | { t: 'status'; d: { instances: InstanceInfo[]; ready: boolean } }

/** Two assignments are the same slice when a re-adopting parent may keep the running shards. */
export function sameSlice(a: Assignment, b: Assignment): boolean {
  return (
    a.mode === b.mode &&
    a.totalShards === b.totalShards &&
    a.shardsPerInstance === b.shardsPerInstance &&
    a.firstInstanceId === b.firstInstanceId &&
    a.shards.length === b.shards.length &&
    a.shards.every((s, i) => s === b.shards[i])
  )
}

/** Events a child forwards so the parent's listeners see every machine's instances. */
export const FORWARDED_EVENTS = [
  'instanceSpawn',
  'instanceReady',
  'instanceDeath',
  'instanceRespawn',
  'instanceGaveUp',
  'shardReady',
  'shardDisconnect',
  'shardResume',
  'shardReconnecting',
  'error',
] as const

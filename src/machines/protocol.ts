/**
 * What a parent and a child manager say to each other over their link. Every message is an
 * envelope (`{ v, op, id?, d?, k?, ttl? }`, src/ipc/envelope.ts); requests use the one request
 * layer (`req`/`res`/`cancel`, src/rpc/endpoint.ts), the rest are the ops below. User values inside
 * are already serialized (ipc/values.ts). Every message from the other side is checked by
 * messages.ts before anything acts on it.
 */
import type { ResolvedOptions } from '../manager/options.js'
import type { InstanceInfo } from '../manager/instance.js'
import type { GatewayHandOver, SessionInfo } from '../runtime/context.js'
import type { WireError } from '../ipc/values.js'

export const LinkOps = {
  /** parent → child: a slice to run, as shard set `set` (a re-shard runs two sets for a while). */
  ASSIGN: 'assign',
  /** parent → child: set `set` serves the bot from now on (a re-shard switched); the others do not. */
  ACTIVATE: 'activate',
  /** parent → child: stop shard set `set` (the old set after a re-shard, or a failed new one). */
  RETIRE: 'retire',
  /** parent → child: run nothing (a spare, or a machine whose range moved to a spare while it was away). */
  STANDBY: 'standby',
  /** child → parent: the answer to an assignment (taken, kept running, or refused with a reason). */
  ASSIGNED: 'assigned',
  /** child → parent: its instances' state (the newest only; status is state, not a log). */
  STATUS: 'status',
  /** child → parent: a manager event of its instances (instanceReady, error, ...). */
  EVENT: 'event',
  SESSION: 'session',
  /** child → parent: an exclusive start slot ended (sequential starts). */
  RELEASE: 'release',
  /** child → parent: shards that identified on their own (unmodified bots). */
  UNCOORDINATED: 'uncoordinated',
  /** child → parent: a granted shard has sent its IDENTIFY (the key's next turn may come sooner). */
  IDENTIFY_SENT: 'identifySent',
  /**
   * child → parent: the child's identify call for this shard has settled: the turn was handed to the
   * instance just now, or the call was given up and its turn will not be used. The parent holds the
   * key's next turn until this arrives (a grant delayed on the link moves the key's next turn with it).
   */
  IDENTIFY_SETTLED: 'identifySettled',
} as const

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
  /** The child's instances' young-generation growth (absent: the child's own option, from an older parent). */
  semiSpaceGrowthFactor?: number | null
  /** The child's instances hold V8's optimizer during imports (absent: the child's own option, from an older parent). */
  holdOptimizerDuringImports?: boolean
  /** The child's workers switch V8's early optimization of small functions off (absent: the child's own option, from an older parent). */
  deferSmallFunctionOptimization?: boolean
  args: string[]
  respawn: boolean
  restarts: ResolvedOptions['restarts']
  timeouts: ResolvedOptions['timeouts']
  /** Which shard set this is; sets are numbered by the parent, a re-shard adds the next one. */
  set: number
  /** Whether this set serves the bot now (a re-shard's new set is not active until the switch). */
  active: boolean
  /** Sessions handed over (a range moved from a lost machine), so its shards RESUME. */
  sessions: SessionInfo[]
  /** With spares configured: stop this machine's shards when the parent has been away this long, ms (0 = never). */
  fenceAfter: number
  /**
   * The parent's /gateway/bot answer, handed to the child's instances (InstanceContext.gateway). `at`
   * never crosses the link: the child sets it (its own clock) when the assignment arrives.
   */
  gateway?: { api: string; data: GatewayHandOver['data']; at?: number }
}

/** An identify grant the child received recently, so a new parent keeps its window (ms ago). */
export interface RecentIdentify {
  shardId: number
  agoMs: number
}

export type AssignedMessage =
  | { set: number; adopted: boolean; sessions: SessionInfo[]; instances: InstanceInfo[]; recentIdentifies: RecentIdentify[] }
  | { set: number; refused: WireError }

export interface StatusMessage {
  set: number
  instances: InstanceInfo[]
  ready: boolean
  /** The pool's start failed for good (an instance gave up): the parent's start() rejects with it. */
  failed?: WireError
}

/** child → parent, after validation */
export type ChildMessage =
  | { op: 'assigned'; d: AssignedMessage }
  | { op: 'release'; d: { holder: string; outcome: 'ready' | 'failed' } }
  | { op: 'session'; d: { shardId: number; totalShards: number; session: SessionInfo | null } }
  | { op: 'uncoordinated'; d: { shards: number[] } }
  | { op: 'identifySent'; d: { shardId: number } }
  | { op: 'identifySettled'; d: { shardId: number } }
  /** `args` are serialized with ipc/values.ts so errors and infos arrive intact. */
  | { op: 'event'; d: { name: string; args: unknown } }
  | { op: 'status'; d: StatusMessage }

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

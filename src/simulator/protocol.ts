/** Gateway opcodes the simulator speaks (gateway.md §1.3). */
export const GatewayOp = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  Reconnect: 7,
  RequestGuildMembers: 8,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
  RequestSoundboardSounds: 31,
  RequestChannelInfo: 43,
} as const

/** Opcodes a client may send; anything else closes with 4001. */
export const CLIENT_OPS: ReadonlySet<number> = new Set([1, 2, 3, 4, 6, 8, 31, 43])

/** Opcodes allowed before the connection is authenticated; others close with 4003. */
export const PRE_AUTH_OPS: ReadonlySet<number> = new Set([1, 2, 6])

export const GatewayCloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  UnknownError: 4000,
  UnknownOpcode: 4001,
  DecodeError: 4002,
  NotAuthenticated: 4003,
  AuthenticationFailed: 4004,
  AlreadyAuthenticated: 4005,
  InvalidSeq: 4007,
  RateLimited: 4008,
  SessionTimedOut: 4009,
  InvalidShard: 4010,
  ShardingRequired: 4011,
  InvalidAPIVersion: 4012,
  InvalidIntents: 4013,
  DisallowedIntents: 4014,
} as const

/**
 * Server-side closes after which the session is dropped rather than kept for RESUME. These are the codes
 * after which @discordjs/ws re-identifies or stops, so keeping the session would only leak it.
 */
export const SESSION_ENDING_SERVER_CLOSES: ReadonlySet<number> = new Set([
  1000, 4003, 4004, 4005, 4007, 4008, 4010, 4011, 4012, 4013, 4014,
])

/** Largest payload a client may send (bytes); bigger closes with 4002. */
export const MAX_CLIENT_PAYLOAD_BYTES = 4096

export interface GatewayPayload {
  op: number
  d: unknown
  s: number | null
  t: string | null
}

export const GUILDS_INTENT = 1 << 0

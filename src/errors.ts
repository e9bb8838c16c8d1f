/**
 * Every error this library raises is a ShardingError with a stable `code`, so callers can branch on
 * the code instead of parsing messages. Messages name the field or peer involved and what to do.
 */
export class ShardingError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** Invalid constructor / CLI options. `field` is the option path, e.g. `machines.points[1].host`. */
export class OptionsError extends ShardingError {
  readonly field: string
  constructor(field: string, message: string) {
    super('INVALID_OPTION', `${field}: ${message}`)
    this.field = field
  }
}

/** A request got no answer within its timeout. */
export class TimeoutError extends ShardingError {
  constructor(message: string) {
    super('TIMEOUT', message)
  }
}

/** The instance a request was waiting on died (crash, kill, respawn) before it answered. */
export class InstanceDiedError extends ShardingError {
  readonly instanceId: number
  constructor(instanceId: number, message = `instance ${instanceId} died before it answered`) {
    super('INSTANCE_DIED', message)
    this.instanceId = instanceId
  }
}

/**
 * The instance exists but has not started yet: it waits behind the start gate while shards are
 * still being spawned (discord.js says "shards are still being spawned"). Retry after the manager's
 * `ready` event, or use `allowPartial`.
 */
export class NotReadyError extends ShardingError {
  readonly instanceId: number
  constructor(instanceId: number, message = `instance ${instanceId} has not started yet: shards are still being spawned`) {
    super('NOT_READY', message)
    this.instanceId = instanceId
  }
}

/** The network link to a machine was lost and the request could not be delivered in its timeout. */
export class LinkLostError extends ShardingError {
  readonly machineId: string
  constructor(machineId: string, message = `link to machine ${machineId} was lost`) {
    super('LINK_LOST', message)
    this.machineId = machineId
  }
}

/** A target selector matched nothing (no such shard, instance, machine or guild owner). */
export class NoTargetError extends ShardingError {
  constructor(message: string) {
    super('NO_TARGET', message)
  }
}

/** The call was cancelled (AbortSignal, manager stopping). */
export class AbortedError extends ShardingError {
  constructor(message = 'the operation was aborted') {
    super('ABORTED', message)
  }
}

/** A malformed, oversized or unknown message arrived on a link or channel. */
export class ProtocolError extends ShardingError {
  constructor(message: string, code = 'PROTOCOL') {
    super(code, message)
  }
}

/**
 * An error thrown by user code on the other side (broadcastEval, request handler). Keeps the remote
 * name, message and stack; `remoteStack` is the stack as it was where it was thrown.
 */
export class RemoteError extends ShardingError {
  readonly remoteName: string
  readonly remoteStack?: string
  constructor(name: string, message: string, stack?: string, code = 'REMOTE_ERROR') {
    super(code, message)
    this.remoteName = name
    this.remoteStack = stack
    if (stack) this.stack = stack
  }
}

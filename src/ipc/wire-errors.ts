/**
 * Rebuilds an error that crossed a hop. Our own failures keep their class (so
 * `err instanceof InstanceDiedError` works wherever the request started); errors thrown by user
 * code become RemoteError with the remote name, message and stack.
 */
import { AbortedError, InstanceDiedError, LinkLostError, NoTargetError, NotReadyError, RemoteError, ShardingError, TimeoutError } from '../errors.js'
import type { WireError } from './values.js'

export function fromWireError(w: WireError, where: { instance?: number; machine?: string; prefix?: string } = {}): Error {
  const message = where.prefix ? `${where.prefix}: ${w.message}` : String(w.message)
  const name = typeof w.name === 'string' ? w.name : 'Error'
  switch (w.code) {
    case 'NOT_READY':
      return new NotReadyError(where.instance ?? -1, message)
    case 'ABORTED':
      return new AbortedError(message)
    case 'INSTANCE_DIED':
      return new InstanceDiedError(where.instance ?? -1, message)
    case 'TIMEOUT':
      return new TimeoutError(message)
    case 'LINK_LOST':
      return new LinkLostError(where.machine ?? 'unknown', message)
    case 'NO_TARGET':
      return new NoTargetError(message)
  }
  if (name === 'ShardingError' || (typeof w.code === 'string' && /^[A-Z_]+$/.test(w.code) && name !== 'RemoteError' && w.code !== 'REMOTE_ERROR' && isOurs(name))) {
    return new ShardingError(w.code ?? 'SHARDING', message)
  }
  return new RemoteError(name, message, typeof w.stack === 'string' ? w.stack : undefined, typeof w.code === 'string' ? w.code : 'REMOTE_ERROR')
}

function isOurs(name: string): boolean {
  return ['ShardingError', 'OptionsError', 'AbortedError', 'ProtocolError', 'SerializationError'].includes(name)
}

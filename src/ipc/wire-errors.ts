/**
 * Rebuilds an error that crossed a hop. Our own failures keep their class (so
 * `err instanceof InstanceDiedError` works wherever the request started); errors thrown by user
 * code become RemoteError with the remote name, message and stack.
 */
import { InstanceDiedError, LinkLostError, NoTargetError, RemoteError, ShardingError, TimeoutError } from '../errors.js'
import type { WireError } from './values.js'

export function fromWireError(w: WireError, where: { instance?: number; machine?: string; prefix?: string } = {}): Error {
  const message = where.prefix ? `${where.prefix}: ${w.message}` : w.message
  switch (w.code) {
    case 'INSTANCE_DIED':
      return new InstanceDiedError(where.instance ?? -1, message)
    case 'TIMEOUT':
      return new TimeoutError(message)
    case 'LINK_LOST':
      return new LinkLostError(where.machine ?? 'unknown', message)
    case 'NO_TARGET':
      return new NoTargetError(message)
  }
  if (w.name === 'ShardingError' || (w.code && /^[A-Z_]+$/.test(w.code) && w.name !== 'RemoteError' && w.code !== 'REMOTE_ERROR' && isOurs(w.name))) {
    return new ShardingError(w.code ?? 'SHARDING', message)
  }
  return new RemoteError(w.name, message, w.stack, w.code ?? 'REMOTE_ERROR')
}

function isOurs(name: string): boolean {
  return ['ShardingError', 'OptionsError', 'AbortedError', 'ProtocolError', 'SerializationError'].includes(name)
}

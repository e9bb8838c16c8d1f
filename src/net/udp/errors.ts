import { ShardingError } from '../../errors.js'

/**
 * Raised only for API misuse around the UDP layer (exporting keys from a socket that cannot export
 * them, rekeying backwards). Bad datagrams never raise: they are dropped and counted.
 */
export class UdpError extends ShardingError {
  constructor(message: string, code = 'UDP') {
    super(code, message)
  }
}

/**
 * Recognises errors after which restarting an instance cannot help (bad token, invalid shard,
 * sharding required, bad intents): the manager stops the instance instead of looping on them.
 */
import { FATAL_CLOSE_CODES } from '../constants.js'

const FATAL_MESSAGES = [
  /An invalid token was provided/i,
  /Authentication failed/i,
  /Invalid shard/i,
  /Sharding is required/i,
  /invalid API version/i,
  /(invalid|disallowed) intents?/i,
  /Privileged intent provided is not enabled/i,
]

export function isFatalGatewayError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'number' && FATAL_CLOSE_CODES.has(code)) return true
  if (code === 'TokenInvalid' || code === 'ShardingRequired' || code === 'InvalidIntents' || code === 'DisallowedIntents') return true
  const message = (err as { message?: unknown }).message
  return typeof message === 'string' && FATAL_MESSAGES.some((re) => re.test(message))
}

import { describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import { ShardingManager } from '../../src/index.js'

/** A manager's calls report every mistake as a rejection, never as a throw, as async functions would. */
describe('ShardingManager calls', () => {
  const manager = new ShardingManager({ file: fileURLToPath(new URL('../fixtures/basic-client.mjs', import.meta.url)), mode: 'PROCESSES', shards: 2, token: 'x' })

  const calls: [string, () => Promise<unknown>, RegExp][] = [
    ['broadcastEval of a non-function', () => manager.broadcastEval(5 as never), /fn must be a function/],
    ['broadcastEval with an unknown option', () => manager.broadcastEval(() => 1, { shards: 1 } as never), /unknown option 'shards'/],
    ['broadcastEval before start', () => manager.broadcastEval(() => 1), /not started/],
    ['fetchClientValues without a prop', () => manager.fetchClientValues(''), /dotted property path/],
    ['fetchClientValues before start', () => manager.fetchClientValues('guilds.cache.size'), /not started/],
    ['request with a bad target', () => manager.request('x', { shard: '1' } as never), /options.shard is an id/],
    ['request before start', () => manager.request('x'), /not started/],
  ]

  for (const [what, call, error] of calls) {
    it(`${what} rejects`, async () => {
      let p: Promise<unknown> | undefined
      expect(() => (p = call())).not.toThrow()
      await expect(p).rejects.toThrow(error)
    })
  }
})

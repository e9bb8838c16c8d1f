// A child's identifySent report on the machine link: checked like every other link message.
import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION } from '../../src/constants.js'
import { readChildMessage } from '../../src/machines/messages.js'
import { LinkOps } from '../../src/machines/protocol.js'

const read = (d: unknown) => readChildMessage({ v: PROTOCOL_VERSION, op: LinkOps.IDENTIFY_SENT, d } as never)

describe('identifySent from a child', () => {
  it('carries the shard and, when the child measured it, how late the IDENTIFY left', () => {
    expect(read({ shardId: 3 })).toEqual({ op: 'identifySent', d: { shardId: 3 } })
    expect(read({ shardId: 3, lateMs: 12 })).toEqual({ op: 'identifySent', d: { shardId: 3, lateMs: 12 } })
  })

  it.each([
    [{ shardId: -1 }, /expected \{ shardId, lateMs\? \}/],
    [{ shardId: 1.5 }, /expected \{ shardId, lateMs\? \}/],
    [{ shardId: 1, lateMs: -5 }, /lateMs must be a number of ms >= 0/],
    [{ shardId: 1, lateMs: 'soon' }, /lateMs must be a number of ms >= 0/],
    [{ shardId: 1, lateMs: Infinity }, /lateMs must be a number of ms >= 0/],
  ])('refuses %o with a clear error', (d, message) => {
    expect(() => read(d)).toThrow(message)
  })
})

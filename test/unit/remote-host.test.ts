import { describe, expect, it } from 'vitest'
import { AbortedError } from '../../src/errors.js'
import { LinkOps, type Assignment } from '../../src/machines/protocol.js'
import { RemoteHost, type ParentLink } from '../../src/machines/remote-host.js'

/** A parent link whose identify answers the test releases, recording what the child sends. */
function setup() {
  const sent: Array<[string, unknown]> = []
  const answers: Array<{ resolve: () => void; reject: (e: Error) => void }> = []
  const parent: ParentLink = {
    call: () => new Promise<unknown>((resolve, reject) => answers.push({ resolve: () => resolve(null), reject })),
    send: (op, d) => void sent.push([op, d]),
    attached: () => Promise.resolve(),
  }
  const host = new RemoteHost({ shards: [0, 1, 2, 3] } as unknown as Assignment, parent, new Map(), () => {}, () => 0)
  return { host, sent, answers }
}

describe('RemoteHost: identify turns over the machine link', () => {
  it('tells the parent the moment a turn is handed over, so the parent spaces the key from there', async () => {
    const { host, sent, answers } = setup()
    const turn = host.root.identify(2, new AbortController().signal)
    await Promise.resolve()
    expect(sent).toEqual([]) // nothing before the turn arrives
    answers[0]!.resolve()
    await turn
    expect(sent).toEqual([[LinkOps.IDENTIFY_SETTLED, { shardId: 2 }]])
  })

  it('also when the call is given up (its turn, if granted, will never be used)', async () => {
    const { host, sent, answers } = setup()
    const turn = host.root.identify(3, new AbortController().signal)
    await Promise.resolve()
    answers[0]!.reject(new AbortedError('identify of shard 3 was cancelled'))
    await expect(turn).rejects.toBeInstanceOf(AbortedError)
    expect(sent).toEqual([[LinkOps.IDENTIFY_SETTLED, { shardId: 3 }]])
  })
})

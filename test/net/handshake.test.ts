import { describe, expect, it } from 'vitest'
import {
  agreeHeartbeat,
  buildHello,
  buildWelcome,
  checkVersion,
  negotiate,
  parseGoAway,
  parseHello,
  parseWelcome,
  readVersions,
  type HandshakeParams,
} from '../../src/net/handshake.js'

const parent: HandshakeParams = { nodeId: 'parent-1', role: 'parent', caps: ['resume', 'udp'], maxFrame: 1 << 24, hb: { interval: 5000, timeout: 15000 } }
const child: HandshakeParams = { nodeId: 'child-a', role: 'child', caps: ['resume'], maxFrame: 1 << 20, hb: { interval: 200, timeout: 600 } }

describe('version negotiation', () => {
  it('picks the highest common version', () => {
    expect(checkVersion(1, 1, 1, 1)).toEqual({ ok: true, v: 1 })
    expect(checkVersion(3, 1, 1, 2)).toEqual({ ok: true, v: 2 })
  })
  it('refuses disjoint ranges with a readable reason', () => {
    expect(checkVersion(2, 2, 1, 1)).toEqual({ ok: false, reason: 'protocol version 2 not supported, this side speaks 1..1' })
    expect(checkVersion(3, 2, 1, 1)).toEqual({ ok: false, reason: 'protocol versions 2..3 not supported, this side speaks 1..1' })
    expect(checkVersion(1, 1, 2, 4)).toMatchObject({ ok: false, reason: expect.stringContaining('this side speaks 2..4') })
  })
  it('reads versions leniently from a future-shaped HELLO', () => {
    expect(readVersions({ v: 9, minV: 7, whatever: [] })).toEqual({ v: 9, minV: 7 })
    expect(() => readVersions('nope')).toThrow(expect.objectContaining({ code: 'BAD_HANDSHAKE' }))
  })
})

describe('HELLO / WELCOME', () => {
  it('negotiates caps (intersection), maxFrame (min) and heartbeat', () => {
    const hello = parseHello(buildHello(parent, undefined, { parentId: 'p' }))
    expect(hello.info).toEqual({ parentId: 'p' })
    const n = negotiate(child, hello, 1)
    expect(n).toEqual({ v: 1, caps: ['resume'], maxFrame: 1 << 20, hb: { interval: 200, timeout: 600 } })
    const w = buildWelcome(child, n, { sessionId: 's1', resumed: false, lastSeq: 0 })
    expect(parseWelcome(JSON.parse(JSON.stringify(w)), hello)).toMatchObject({ sessionId: 's1', resumed: false, caps: ['resume'] })
  })

  it('agreeHeartbeat keeps the timeout at least two intervals', () => {
    expect(agreeHeartbeat({ interval: 5000, timeout: 15000 }, { interval: 100, timeout: 150 })).toEqual({ interval: 100, timeout: 200 })
  })

  it('rejects malformed HELLOs', () => {
    const good = buildHello(parent)
    const bad = [
      { ...good, role: 'admin' },
      { ...good, nodeId: '' },
      { ...good, nodeId: 'x'.repeat(300) },
      { ...good, caps: 'resume' },
      { ...good, caps: Array(40).fill('x') },
      { ...good, maxFrame: 10 },
      { ...good, hb: { interval: 'fast', timeout: 1 } },
      { ...good, resume: { sessionId: 's', lastSeq: -1 } },
      [1, 2],
      null,
    ]
    for (const b of bad) expect(() => parseHello(b), JSON.stringify(b)).toThrow(expect.objectContaining({ code: 'BAD_HANDSHAKE' }))
  })

  it('rejects a WELCOME that resumes an unrequested session, adds caps, or picks a foreign version', () => {
    const hello = buildHello(parent)
    const w = buildWelcome(child, negotiate(child, hello, 1), { sessionId: 's', resumed: true, lastSeq: 3 })
    expect(() => parseWelcome(w, hello)).toThrow(/did not ask for/)
    expect(() => parseWelcome({ ...w, resumed: false, caps: ['resume', 'zstd'] }, hello)).toThrow(/did not offer/)
    expect(() => parseWelcome({ ...w, resumed: false, v: 5 }, hello)).toThrow(expect.objectContaining({ code: 'VERSION_MISMATCH' }))
    const resuming = buildHello(parent, { sessionId: 's', lastSeq: 0 })
    expect(parseWelcome(w, resuming).lastSeq).toBe(3)
  })

  it('GOAWAY parsing is lenient and bounded', () => {
    expect(parseGoAway({ code: 'SHUTDOWN', reason: 'bye' })).toEqual({ code: 'SHUTDOWN', reason: 'bye' })
    expect(parseGoAway(undefined)).toEqual({ code: 'UNKNOWN', reason: 'no reason given' })
    expect(parseGoAway({ code: 'X', reason: 'r'.repeat(5000) }).reason).toHaveLength(1000)
  })
})

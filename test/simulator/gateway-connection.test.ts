import { EventEmitter } from 'node:events'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { GatewayConnection, type ConnectionHandler, type ConnectionSettings } from '../../src/simulator/gateway-connection.js'
import { SendRateLimiter } from '../../src/simulator/rate-limit.js'

/** Enough of a `ws` socket for GatewayConnection and its Transport, with no network. */
class FakeSocket extends EventEmitter {
  readyState = 1
  readonly sent: any[] = []
  send(data: string): void {
    this.sent.push(JSON.parse(data))
  }
  close(code: number): void {
    if (this.readyState !== 1) return
    this.readyState = 3
    this.emit('close', code, Buffer.alloc(0))
  }
  terminate(): void {
    this.close(1006)
  }
  /** A frame from the client. */
  receive(payload: unknown): void {
    this.emit('message', Buffer.from(JSON.stringify(payload)), false)
  }
}

function setup(settings: Partial<ConnectionSettings> & { rateLimit?: Partial<ConnectionSettings['rateLimit']> } = {}) {
  let now = 0
  const closes: number[] = []
  const handler: ConnectionHandler = {
    settings: () => ({
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: 1500,
      ...settings,
      rateLimit: { events: 120, windowMs: 60_000, countHeartbeats: false, sliding: false, ...settings.rateLimit },
    }),
    identify: () => {},
    resume: () => {},
    command: () => {},
    shouldAck: () => true,
    rateLimited: () => {},
    closing: (_c, code) => closes.push(code),
    closed: () => {},
  }
  const socket = new FakeSocket()
  const conn = new GatewayConnection(socket as never, { version: 10, compress: false, viaResumeUrl: false }, handler, () => now)
  conn.start()
  return { conn, socket, closes, at: (ms: number) => (now = ms) }
}

describe('SendRateLimiter', () => {
  // 0, 500, 1000, 1001: a fixed window restarts at 1000 and allows all four; a sliding one holds three at 1001.
  const times = [0, 500, 1000, 1001]
  const run = (sliding: boolean): boolean[] => {
    let now = 0
    const limiter = new SendRateLimiter({ events: 2, windowMs: 1000, sliding }, () => now)
    return times.map((t) => ((now = t), limiter.hit()))
  }

  it('fixed: the window starts at creation and restarts at the first payload after it ends', () => {
    expect(run(false)).toEqual([false, false, false, false])
  })

  it('sliding: each payload leaves the window windowMs after it came', () => {
    expect(run(true)).toEqual([false, false, false, true])
  })

  it('fixed: a third payload inside the window is over the limit', () => {
    let now = 0
    const limiter = new SendRateLimiter({ events: 2, windowMs: 1000, sliding: false }, () => now)
    expect([limiter.hit(), limiter.hit(), ((now = 999), limiter.hit())]).toEqual([false, false, true])
  })
})

describe('GatewayConnection (no sockets, injected clock and timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('applies the sliding window from its settings and closes 4008', () => {
    const { socket, closes, at } = setup({ rateLimit: { events: 2, windowMs: 1000, countHeartbeats: true, sliding: true } })
    for (const t of [0, 500, 1000]) {
      at(t)
      socket.receive({ op: 1, d: null })
    }
    expect(closes).toEqual([])
    at(1001)
    socket.receive({ op: 1, d: null })
    expect(closes).toEqual([4008])
  })

  it('with the fixed window the same timeline is allowed', () => {
    const { socket, closes, at } = setup({ rateLimit: { events: 2, windowMs: 1000, countHeartbeats: true, sliding: false } })
    for (const t of [0, 500, 1000, 1001]) {
      at(t)
      socket.receive({ op: 1, d: null })
    }
    expect(closes).toEqual([])
    expect(socket.sent.filter((f) => f.op === 11)).toHaveLength(4)
  })

  it('counts the heartbeat deadline from HELLO, re-arms it on every heartbeat, and closes 4000 when it passes', () => {
    const { socket, closes } = setup({ heartbeatTimeoutMs: 1500 })
    expect(socket.sent[0]).toEqual({ op: 10, d: { heartbeat_interval: 1000 }, s: null, t: null })
    vi.advanceTimersByTime(1499)
    socket.receive({ op: 1, d: null })
    expect(socket.sent.at(-1)).toEqual({ op: 11, d: null, s: null, t: null })
    vi.advanceTimersByTime(1499)
    expect(closes).toEqual([])
    vi.advanceTimersByTime(1)
    expect(closes).toEqual([4000])
    expect(socket.readyState).toBe(3)
  })
})

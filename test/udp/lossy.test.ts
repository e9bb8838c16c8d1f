import { describe, expect, it } from 'vitest'
import type { UdpRemote } from '../../src/net/udp/index.js'
import type { UdpEndpoint } from '../../src/net/udp/index.js'
import { channelPair, collect, lossyTransmit, mixedPayloads, prng, quiescent, until } from './udp-helper.js'

const N = 2000

describe('UdpChannel through a lossy shim (drop 10 %, duplicate 5 %, reorder 10 %)', () => {
  it(`still delivers ${N} mixed messages each way exactly once and in order`, async () => {
    const sockets: { server?: UdpEndpoint; client?: UdpEndpoint } = {}
    const via = (ep: 'server' | 'client') => (dg: Buffer, r: UdpRemote) => sockets[ep]!.socket.send(dg, r.port, r.address)
    const shape = { drop: 0.1, dup: 0.05, reorder: 0.1 }
    const toServer = lossyTransmit(via('client'), prng(11), shape)
    const toClient = lossyTransmit(via('server'), prng(12), shape)
    const p = await channelPair('udp4', {
      // Short delayed-ACK keeps tail-loss probes quick on loopback.
      common: { maxAckDelayMs: 5, initialRttMs: 10 },
      client: { transmit: toServer.transmit },
      server: { transmit: toClient.transmit },
    })
    sockets.server = p.server
    sockets.client = p.client
    try {
      const up = mixedPayloads(N, 3)
      const down = mixedPayloads(N, 4)
      const atServer = collect(p.sc, up)
      const atClient = collect(p.cc, down)
      const t0 = performance.now()
      for (let i = 0; i < N; i++) {
        p.cc.send(up[i]!)
        p.sc.send(down[i]!)
      }
      await Promise.all([atServer.done, atClient.done])
      const ms = performance.now() - t0
      await until(() => quiescent(p))
      expect([atServer.got(), atClient.got()]).toEqual([N, N])
      const cs = p.cc.stats()
      const ss = p.sc.stats()
      // The shim really was hostile, and the channel noticed and repaired it.
      for (const c of [toServer.counts, toClient.counts]) {
        expect(c.dropped / c.total).toBeGreaterThan(0.07)
        expect(c.duplicated).toBeGreaterThan(0)
        expect(c.reordered).toBeGreaterThan(0)
      }
      expect(cs.packetsLost + ss.packetsLost).toBeGreaterThan(0)
      expect(cs.framesRetransmitted + ss.framesRetransmitted).toBeGreaterThan(0)
      // Duplicated datagrams are caught by the replay window (after authentication).
      expect(cs.droppedReplay + ss.droppedReplay).toBeGreaterThan(0)
      expect(cs.droppedAuth + ss.droppedAuth + cs.droppedInvalid + ss.droppedInvalid).toBe(0)
      expect(cs.dead || ss.dead).toBe(false)
      console.log(
        `lossy: ${2 * N} msgs in ${ms.toFixed(0)} ms | c→s ${JSON.stringify(toServer.counts)} s→c ${JSON.stringify(toClient.counts)} | ` +
          `lost c ${cs.packetsLost} s ${ss.packetsLost}, retx pkts c ${cs.packetsRetransmitted} s ${ss.packetsRetransmitted}, ` +
          `replays dropped c ${cs.droppedReplay} s ${ss.droppedReplay}, refused c ${cs.droppedRefused} s ${ss.droppedRefused}, cwnd c ${cs.cwnd} s ${ss.cwnd}`,
      )
    } finally {
      await p.close()
    }
  })
})

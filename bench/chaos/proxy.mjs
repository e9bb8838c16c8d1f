// A loopback TCP proxy in front of one child manager, so the harness can break the parent's link
// from the outside without touching either end:
//   cut('reset')     destroy every connection (both ends see the close at once) and refuse new ones;
//   cut('blackhole') keep connections open but forward nothing (only liveness timeouts notice);
//   stall()          stop forwarding parent → child while the parent keeps writing (fills the link);
//   restore()        forward again (blackholed connections are dropped first; stalled ones go on).
import { connect, createServer } from 'node:net'

export class ChaosProxy {
  #server
  #pairs = new Set()
  #mode = 'open' // 'open' | 'reset' | 'blackhole' | 'stall'
  port = 0

  constructor(target) {
    this.target = target
    this.#server = createServer((inbound) => this.#accept(inbound))
  }

  get mode() {
    return this.#mode
  }

  async listen(host = '127.0.0.1') {
    await new Promise((resolve) => this.#server.listen(0, host, resolve))
    this.port = this.#server.address().port
    return this.port
  }

  #accept(inbound) {
    inbound.on('error', () => {})
    if (this.#mode === 'reset') return inbound.destroy()
    if (this.#mode === 'blackhole') return void this.#pairs.add({ inbound, outbound: null })
    const outbound = connect(this.target.port, this.target.host)
    outbound.on('error', () => {})
    const pair = { inbound, outbound }
    this.#pairs.add(pair)
    this.#forward(pair)
    const drop = () => {
      inbound.destroy()
      outbound.destroy()
      this.#pairs.delete(pair)
    }
    inbound.on('close', drop)
    outbound.on('close', drop)
  }

  #forward(pair) {
    const { inbound, outbound } = pair
    pair.held = []
    inbound.on('data', (d) => {
      if (this.#mode === 'blackhole') return
      if (this.#mode === 'stall') return void pair.held.push(d)
      if (!outbound.write(d)) inbound.pause()
    })
    outbound.on('drain', () => inbound.resume())
    outbound.on('data', (d) => {
      if (this.#mode === 'blackhole') return
      if (!inbound.write(d)) outbound.pause()
    })
    inbound.on('drain', () => outbound.resume())
  }

  cut(kind = 'reset') {
    this.#mode = kind
    if (kind === 'reset') this.#dropAll()
  }

  /** Parent → child stops moving: the reading side is paused, so the parent's writes back up. */
  stall() {
    this.#mode = 'stall'
    for (const { inbound } of this.#pairs) inbound.pause()
  }

  restore() {
    const was = this.#mode
    this.#mode = 'open'
    // Blackholed streams lost bytes and cannot continue; stalled ones held theirs and go on.
    if (was === 'blackhole') return this.#dropAll()
    if (was !== 'stall') return
    for (const pair of this.#pairs) {
      for (const d of pair.held ?? []) pair.outbound?.write(d)
      pair.held = []
      pair.inbound.resume()
    }
  }

  #dropAll() {
    for (const { inbound, outbound } of this.#pairs) {
      inbound.destroy()
      outbound?.destroy()
    }
    this.#pairs.clear()
  }

  async close() {
    this.#mode = 'reset'
    this.#dropAll()
    await new Promise((resolve) => this.#server.close(resolve))
  }
}

// How long this process's event loop was blocked since a given time (sum of timer overshoot,
// sampled every 50 ms), so the harness does not call a call hung because it looked too late itself.
const TICK_MS = 50
const KEEP_MS = 10 * 60_000

export class LoopStall {
  #samples = [[Date.now(), 0]] // [time, cumulative stall], ascending
  #total = 0
  #last = performance.now()
  #timer

  constructor() {
    this.#timer = setInterval(() => {
      const now = performance.now()
      this.#total += Math.max(0, now - this.#last - TICK_MS)
      this.#last = now
      this.#samples.push([Date.now(), this.#total])
      while (this.#samples.length > 2 && this.#samples[0][0] < Date.now() - KEEP_MS) this.#samples.shift()
    }, TICK_MS)
    this.#timer.unref()
  }

  /** Milliseconds the loop was blocked since wall-clock time `at`. */
  since(at) {
    let lo = 0
    let hi = this.#samples.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.#samples[mid][0] < at) lo = mid + 1
      else hi = mid
    }
    // Plus a block still under way (I/O callbacks can run before the sampling timer after a block).
    return this.#total + Math.max(0, performance.now() - this.#last - TICK_MS) - this.#samples[lo][1]
  }

  stop() {
    clearInterval(this.#timer)
  }
}

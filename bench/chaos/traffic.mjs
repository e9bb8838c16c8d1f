// Traffic and its bookkeeping: the parent's calls (made by the harness through the parent process),
// and the instances' calls (read back from the bots' result files). Both land in the CallLedger.
import { PARENT_OPS, pickOp } from './ops.mjs'
import { ResultsReader } from './results.mjs'

/** Calls through the current parent at `rate` per second while it has started. */
export class ParentTraffic {
  #timer = null
  #n = 0

  constructor(run) {
    this.run = run
  }

  start() {
    const { parentRate } = this.run.config
    if (parentRate <= 0) return
    this.#timer = setInterval(() => this.tick(), Math.max(5, Math.round(1000 / parentRate)))
  }

  stop() {
    clearInterval(this.#timer)
    this.#timer = null
  }

  tick() {
    const { run } = this
    const parent = run.parent
    if (!parent?.started || parent.exited) return
    const { random, config, topo } = run
    const op = pickOp(random.next)
    this.call(op, random.between(config.timeoutMin, config.timeoutMax), {
      shard: random.int(config.totalShards),
      instance: random.int(config.instances),
      machine: random.pick(topo.machines).id,
    })
  }

  /** One call through the parent; resolves with its outcome, or null if the parent died first. */
  async call(op, timeout, arg) {
    const { run } = this
    const parent = run.parent
    const id = `p${parent.generation}-${++this.#n}`
    const spec = PARENT_OPS[op]
    run.ledger.open({ id, source: 'parent', caller: parent.caller, op, timeout, at: Date.now(), expect: spec.expect ?? null, strict: Boolean(spec.strict), started: false })
    const outcome = await parent.call(id, op, timeout, arg, () => run.ledger.start(id, Date.now()))
    if (outcome) run.ledger.settle(id, outcome)
    return outcome
  }
}

/**
 * The bots' records: 'hello' (a new instance process), 'ready', 'hang', and 'call' / 'done' for
 * every call an instance made.
 */
export function botResults(run) {
  return new ResultsReader(run.topo.resultsDir, (r) => {
    switch (r.t) {
      case 'hello':
        run.registry.add(r.pid, 'instance', { instance: r.instance, machine: r.machine })
        run.bots.set(r.pid, { ...r, hanging: false })
        return
      case 'ready': {
        const bot = run.bots.get(r.pid)
        if (bot) bot.readyAt = r.at
        return
      }
      case 'hang':
        run.hanging.add(r.pid)
        return
      case 'call':
        run.ledger.open({ id: r.id, source: 'instance', caller: `pid:${r.id.split('-')[0]}`, op: r.op, timeout: r.timeout, at: r.at })
        return
      case 'done':
        run.ledger.settle(r.id, r)
        return
    }
  })
}

// The calls the harness makes through the parent manager's public API. Each names its deadline.
// `expect`: the op fails on purpose with this code; `strict`: and no fault may excuse another code.
// `weight`: how often the traffic generator picks it. The `fill` op is used only by the backpressure fault.

const buffers = new Map()
const payload = (bytes) => {
  if (!buffers.has(bytes)) buffers.set(bytes, Buffer.alloc(bytes, 0x61))
  return buffers.get(bytes)
}

export const PARENT_OPS = {
  bEvalAll: { weight: 3, run: (m, timeout) => m.broadcastEval((c) => c.readyTimestamp ?? null, { timeout }) },
  bEvalPartial: { weight: 2, run: (m, timeout) => m.broadcastEval(() => process.pid, { timeout, allowPartial: true }) },
  bEvalShard: { weight: 2, run: (m, timeout, a) => m.broadcastEval(() => process.pid, { shard: a.shard, timeout }) },
  bEvalMachine: { weight: 1, run: (m, timeout, a) => m.broadcastEval(() => process.pid, { machine: a.machine, timeout }) },
  fetchAll: { weight: 2, run: (m, timeout) => m.fetchClientValues('readyTimestamp', { timeout }) },
  requestShard: { weight: 2, run: (m, timeout, a) => m.request({ chaos: 'ping' }, { shard: a.shard, timeout }) },
  requestAll: { weight: 1, run: (m, timeout) => m.request({ chaos: 'ping' }, { timeout }) },
  sendInstance: { weight: 2, run: (m, timeout, a) => m.send({ chaos: 'msg' }, { instance: a.instance, timeout }) },
  sendAll: { weight: 1, run: (m, timeout) => m.send({ chaos: 'msg' }, { timeout }) },
  noTarget: { weight: 1, expect: 'NO_TARGET', strict: true, run: (m, timeout) => m.broadcastEval(() => 1, { instance: 100_000, timeout }) },
  evalThrows: {
    weight: 1,
    expect: 'REMOTE_ERROR',
    run: (m, timeout, a) =>
      m.broadcastEval(() => {
        throw new RangeError('chaos: thrown on purpose')
      }, { shard: a.shard, timeout }),
  },
  // Answers 3 s after its deadline: must end as TIMEOUT, on time.
  slowEval: {
    weight: 1,
    expect: 'TIMEOUT',
    run: (m, timeout, a) => m.broadcastEval((_c, ctx) => new Promise((r) => setTimeout(r, ctx.ms)), { shard: a.shard, timeout, context: { ms: timeout + 3000 } }),
  },
  fill: { weight: 0, run: (m, timeout, a) => m.send({ chaos: 'chaos-big', data: payload(a.bytes) }, { machine: a.machine, timeout }) },
}

export async function runParentOp(manager, op, timeout, arg = {}) {
  const spec = PARENT_OPS[op]
  if (!spec) throw new Error(`unknown chaos op ${op}`)
  return spec.run(manager, timeout, arg)
}

/** Picks an op by weight with `random()` in [0, 1). */
export function pickOp(random) {
  const entries = Object.entries(PARENT_OPS).filter(([, s]) => s.weight > 0)
  const total = entries.reduce((n, [, s]) => n + s.weight, 0)
  let r = random() * total
  for (const [name, s] of entries) {
    r -= s.weight
    if (r < 0) return name
  }
  return entries[entries.length - 1][0]
}

// "All-ready", judged from two sides that do not trust each other: the parent's status() (every
// machine ready, every planned instance ready) and the gateway simulator (every shard has exactly one
// connected session). Pure.

/**
 * @param status   the parent's status() (or null while no parent runs)
 * @param sessionsByShard  simulator stats().sessions.byShard ({ 'id/total': connected sessions })
 * @param expected { machines: string[], instances: number, totalShards: number }
 * @returns { ready, reason, pids: { [instanceId]: pid }, linksUp: { [machine]: boolean } }
 */
export function readiness(status, sessionsByShard, expected) {
  const pids = {}
  const linksUp = {}
  if (!status || !Array.isArray(status.machines)) return { ready: false, reason: 'no parent status', pids, linksUp }
  let reason = null
  let instances = 0
  for (const id of expected.machines) {
    const m = status.machines.find((x) => x.id === id)
    if (!m) {
      reason ??= `machine ${id} missing from status`
      continue
    }
    linksUp[id] = m.link?.up ?? m.state === 'ready'
    if (m.state !== 'ready') reason ??= `machine ${id} is ${m.state}`
    for (const i of m.instances ?? []) {
      instances++
      pids[i.id] = i.pid ?? null
      if (i.state !== 'ready') reason ??= `instance ${i.id} is ${i.state}`
    }
  }
  if (!reason && instances !== expected.instances) reason = `${instances} instances in status, expected ${expected.instances}`
  if (!reason) {
    for (let s = 0; s < expected.totalShards; s++) {
      const n = sessionsByShard?.[`${s}/${expected.totalShards}`] ?? 0
      if (n !== 1) {
        reason = `shard ${s} has ${n} connected gateway sessions`
        break
      }
    }
  }
  return { ready: reason === null, reason, pids, linksUp }
}

/** p50 / max / count of a list of numbers (ms), for the report. */
export function summarize(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return { n: 0, p50: null, p90: null, max: null }
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))]
  return { n: v.length, p50: at(0.5), p90: at(0.9), max: v[v.length - 1] }
}

// Turns fault quotas into an ordered list of fault events. One event may hit several targets at
// once (kill 2 instances, cut 2 links), which is how a 10-minute run fits 100 kills and 50 cuts
// while still waiting for all-ready after each event. Pure and seeded.

export const FAULT_KINDS = ['kill', 'cut', 'parentRestart', 'childRestart', 'hang', 'fill', 'respawn']

export const FAULT_LABELS = {
  kill: 'instance SIGKILL',
  cut: 'link cut',
  parentRestart: 'parent crash + restart',
  childRestart: 'child manager crash + restart',
  hang: 'instance event loop hung',
  fill: 'link filled to backpressure',
  respawn: 'manager.respawn(id)',
}

/** Quota key of each fault kind. */
const QUOTA_OF = { kill: 'kills', cut: 'cuts', parentRestart: 'parentRestarts', childRestart: 'childRestarts', hang: 'hangs', fill: 'fills', respawn: 'respawns' }

export function planFaults(quotas, { instances, machines }, random) {
  const events = []
  const split = (total, maxSize, make) => {
    let left = total
    while (left > 0) {
      const size = Math.min(left, 1 + random.int(Math.max(1, maxSize)))
      events.push(make(size))
      left -= size
    }
  }
  split(quotas[QUOTA_OF.kill], Math.min(3, instances), (size) => ({ kind: 'kill', size }))
  // Some cuts and parent crashes hit while an instance is coming back (killed just before), when
  // identify turns and start slots are in flight between the machines.
  split(quotas[QUOTA_OF.cut], machines, (size) => ({ kind: 'cut', size, mode: random.int(4) === 0 ? 'blackhole' : 'reset', holdMs: 300 + random.int(1700), duringRespawn: random.int(3) === 0 }))
  for (let i = 0; i < quotas[QUOTA_OF.parentRestart]; i++) events.push({ kind: 'parentRestart', size: 1, duringRespawn: i % 2 === 1 })
  for (let i = 0; i < quotas[QUOTA_OF.childRestart]; i++) events.push({ kind: 'childRestart', size: 1, signal: random.int(3) === 0 ? 'SIGTERM' : 'SIGKILL' })
  for (let i = 0; i < quotas[QUOTA_OF.hang]; i++) events.push({ kind: 'hang', size: 1 })
  for (let i = 0; i < quotas[QUOTA_OF.fill]; i++) events.push({ kind: 'fill', size: 1 })
  // Every other graceful respawn has its machine's link cut while it runs (respawn() has no deadline).
  for (let i = 0; i < (quotas[QUOTA_OF.respawn] ?? 0); i++) events.push({ kind: 'respawn', size: 1, mode: i % 2 === 1 ? 'link cut meanwhile' : null })
  // Fisher-Yates with the seeded generator.
  for (let i = events.length - 1; i > 0; i--) {
    const j = random.int(i + 1)
    ;[events[i], events[j]] = [events[j], events[i]]
  }
  return events.map((e, i) => ({ ...e, seq: i + 1 }))
}

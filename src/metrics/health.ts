/** The answer of `/healthz`: healthy only when every shard is ready (and, on a parent, every machine is ready). Pure. */
import type { ManagerStatus } from '../manager/backend.js'

const UP = new Set(['ready', 'resumed'])

export interface Health {
  ok: boolean
  /** One line for a human or a probe log: `ok: 16/16 shards ready`. */
  text: string
}

export function health(status: ManagerStatus): Health {
  const instances = status.machines.flatMap((m) => m.instances)
  let shards = 0
  let ready = 0
  for (const i of instances) {
    const byId = new Map(i.shardStates.map((s) => [s.id, s.state]))
    for (const id of i.shards) {
      shards++
      if (UP.has(byId.get(id) ?? '')) ready++
    }
  }
  const down = status.machines.filter((m) => m.link && !m.link.up).map((m) => m.id)
  if (down.length > 0) return { ok: false, text: `not ready: link down to ${down.join(', ')}; ${ready}/${shards} shards ready when last heard` }
  // A parent learns a machine's instances from the machine: until it reports, its shards are not counted.
  const waiting = status.role === 'parent' ? status.machines.filter((m) => m.state !== 'ready').map((m) => `${m.id} (${m.state})`) : []
  if (waiting.length > 0) return { ok: false, text: `not ready: waiting for ${waiting.join(', ')}; ${ready}/${shards} shards ready so far` }
  if (shards === 0) return { ok: false, text: 'not ready: no shards yet' }
  if (ready < shards) return { ok: false, text: `not ready: ${ready}/${shards} shards ready` }
  return { ok: true, text: `ok: ${ready}/${shards} shards ready` }
}

// Every process the chaos run started or learned about (child managers, parents, bot instances),
// identified by pid *and* start time, so a recycled pid is never mistaken for a leaked process.
import { readFileSync } from 'node:fs'

/** The kernel's start time of `pid` (Linux /proc), 'unknown' elsewhere while it exists, null when gone. */
export function procStartTime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 22, counted after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z') return null // a zombie has exited; only its parent has not reaped it yet
    return fields[19]
  } catch (err) {
    if (err.code !== 'ENOENT' && process.platform !== 'linux') {
      try {
        process.kill(pid, 0)
        return 'unknown'
      } catch {
        return null
      }
    }
    return null
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export class ProcessRegistry {
  #procs = new Map()

  /** Records a process; its start time is read now, so call this while it runs. */
  add(pid, role, detail = {}) {
    if (!pid || this.#procs.has(pid)) return this.#procs.get(pid)
    // Already gone when first heard of: remember that, so a later process with the recycled pid is not it.
    const entry = { pid, role, ...detail, start: procStartTime(pid) ?? 'gone', seenAt: Date.now() }
    this.#procs.set(pid, entry)
    return entry
  }

  get(pid) {
    return this.#procs.get(pid)
  }

  alive(pid) {
    const e = this.#procs.get(pid)
    if (e?.start === 'gone') return false
    const now = procStartTime(pid)
    if (now === null) return false
    return !e || e.start === 'unknown' || now === e.start
  }

  all() {
    return [...this.#procs.values()]
  }

  living(filter = () => true) {
    return this.all().filter((e) => filter(e) && this.alive(e.pid))
  }

  /** Polls until every pid is gone or `ms` passed; returns the entries still alive. */
  async waitGone(pids, ms) {
    const end = Date.now() + ms
    let left = pids.filter((p) => this.alive(p))
    while (left.length > 0 && Date.now() < end) {
      await sleep(100)
      left = left.filter((p) => this.alive(p))
    }
    return left.map((p) => this.#procs.get(p) ?? { pid: p, role: 'unknown' })
  }

  kill(pid, signal = 'SIGKILL') {
    if (!this.alive(pid)) return false
    try {
      process.kill(pid, signal)
      return true
    } catch {
      return false
    }
  }
}

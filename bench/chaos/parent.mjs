// The harness's handle on the parent manager process (bench/chaos/parent-proc.mjs): start it, make
// calls through it, read its status, crash it, stop it. One handle per process ("generation").
import { fork } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { fileURLToPath } from 'node:url'

const PARENT_PROC = fileURLToPath(new URL('./parent-proc.mjs', import.meta.url))

export class ParentHandle extends EventEmitter {
  #pending = new Map()
  #calls = new Map()
  #nextId = 0
  #ticks = [] // [harness time, the parent's cumulative event-loop stall]

  constructor(generation, optionsFile, { verbose = false } = {}) {
    super()
    this.generation = generation
    this.caller = `parent:${generation}`
    this.spawnedAt = Date.now()
    this.started = false
    this.startMs = null
    this.startError = null
    this.exited = false
    this.proc = fork(PARENT_PROC, [optionsFile], { stdio: ['ignore', verbose ? 'inherit' : 'ignore', 'pipe', 'ipc'] })
    this.pid = this.proc.pid
    this.stderr = ''
    this.proc.stderr.setEncoding('utf8').on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000)
    })
    this.proc.on('message', (msg) => this.#onMessage(msg))
    this.proc.on('error', () => {})
    this.exitedPromise = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        this.exited = true
        this.exitInfo = { code, signal }
        for (const p of [...this.#pending.values(), ...this.#calls.values()]) p.resolve(null)
        this.#pending.clear()
        this.#calls.clear()
        this.emit('exit', this.exitInfo)
        resolve(this.exitInfo)
      }),
    )
  }

  /** True while the process answers (a tick in the last second): only then can its calls be judged hung. */
  responsive(now = Date.now()) {
    return !this.exited && now - (this.#ticks.at(-1)?.[0] ?? this.spawnedAt) < 1000
  }

  /** How long the process's event loop was blocked since wall-clock `at` (from its ticks). */
  stallSince(at) {
    const ticks = this.#ticks
    const last = ticks.at(-1)
    if (!last) return 0
    const before = ticks.findLast(([t]) => t <= at) ?? ticks[0]
    return last[1] - before[1]
  }

  #onMessage(msg) {
    if (msg.t === 'tick') {
      this.#ticks.push([Date.now(), msg.stall])
      if (this.#ticks.length > 3000) this.#ticks.splice(0, 1000)
      return
    }
    if (msg.t === 'accepted') return void this.#calls.get(msg.id)?.onAccepted()
    if (msg.t === 'started') {
      this.started = true
      this.startMs = msg.ms
      this.emit('started', msg)
    } else if (msg.t === 'startFailed') {
      this.startError = msg.error
      this.emit('startFailed', msg)
    } else if (msg.t === 'event') {
      this.emit('managerEvent', msg)
    } else if (msg.t === 'result') {
      const call = this.#calls.get(msg.id)
      this.#calls.delete(msg.id)
      call?.resolve(msg)
    } else if (msg.id !== undefined && this.#pending.has(msg.id)) {
      const p = this.#pending.get(msg.id)
      this.#pending.delete(msg.id)
      p.resolve(msg)
    }
  }

  #ask(msg, timeoutMs) {
    if (this.exited || !this.proc.connected) return Promise.resolve(null)
    const id = `q${++this.#nextId}`
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        resolve(null)
      }, timeoutMs)
      this.#pending.set(id, { resolve: (v) => (clearTimeout(timer), resolve(v)) })
      try {
        this.proc.send({ ...msg, id })
      } catch {
        this.#pending.delete(id)
        clearTimeout(timer)
        resolve(null)
      }
    })
  }

  /**
   * One API call in the parent process. `onAccepted` runs when the parent starts it; resolves with
   * the outcome ({ ok, ms, stall, code, name, message, partialErrors }), or null if the process is gone.
   */
  call(id, op, timeout, arg, onAccepted = () => {}) {
    if (this.exited || !this.proc.connected) return Promise.resolve(null)
    return new Promise((resolve) => {
      this.#calls.set(id, { resolve, onAccepted })
      try {
        this.proc.send({ t: 'call', id, op, timeout, arg })
      } catch {
        this.#calls.delete(id)
        resolve(null)
      }
    })
  }

  /** status() of the manager, or null (not answering within `timeoutMs`, or gone). */
  async status(timeoutMs = 2000) {
    const reply = await this.#ask({ t: 'status' }, timeoutMs)
    return reply?.status ?? null
  }

  /** manager.stop(); resolves { ok, error?, ms } or { ok: false, hung: true } after `timeoutMs`. */
  async stop(timeoutMs) {
    const t0 = Date.now()
    const reply = await this.#ask({ t: 'stop' }, timeoutMs)
    if (!reply) return { ok: false, hung: !this.exited, gone: this.exited, ms: Date.now() - t0 }
    return { ok: reply.ok, error: reply.error, ms: Date.now() - t0 }
  }

  /** manager.respawn(instance); resolves { ok, ms, error? }, or null if no answer within `timeoutMs` (or the parent died). */
  respawn(instance, timeoutMs) {
    return this.#ask({ t: 'respawn', instance }, timeoutMs)
  }

  kill(signal = 'SIGKILL') {
    if (this.exited) return false
    try {
      return this.proc.kill(signal)
    } catch {
      return false
    }
  }
}

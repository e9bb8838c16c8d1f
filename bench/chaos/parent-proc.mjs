// The MACHINES parent manager in its own process, so the harness can crash it (SIGKILL) and start
// another. Driven over the fork IPC channel:
//   harness → { t: 'call', id, op, timeout, arg }   run one public API call, answer { t: 'result', id, ... }
//   harness → { t: 'status', id }                     answer { t: 'status', id, status }
//   harness → { t: 'stop', id }                       manager.stop(), answer { t: 'stopped', id, ok, error }
//   harness → { t: 'respawn', id, instance }          manager.respawn(instance), answer { t: 'respawned', id, ok, ms, error }
//   parent  → { t: 'started', ms } | { t: 'startFailed', error } | { t: 'event', name, data, at }
//             { t: 'accepted', id } when a call starts, { t: 'tick', stall } every 200 ms
// Options come as JSON in the file named by argv[2]. The parent answers instances' requests
// (`sharding.request(x)` with no target) itself.
import { readFileSync } from 'node:fs'
import { ShardingManager } from '../../dist/index.js'
import { runParentOp } from './ops.mjs'

const options = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const manager = new ShardingManager(options)
const send = (msg) => {
  if (process.connected) process.send(msg)
}
const errorInfo = (err) => ({ code: err?.code ?? null, name: err?.name ?? null, message: String(err?.message ?? err).slice(0, 300) })

// The harness is the only reason this process exists: without it, stop at once (nothing to clean).
process.on('disconnect', () => process.exit(0))
process.on('SIGINT', () => {}) // Ctrl-C reaches the whole group; the harness decides how this process ends.

// Time this process's event loop was blocked, so a late answer caused by the caller itself shows.
let stalledMs = 0
let lastTick = performance.now()
setInterval(() => {
  const now = performance.now()
  stalledMs += Math.max(0, now - lastTick - 50)
  lastTick = now
}, 50)
// Includes a block still under way: after a long block, I/O callbacks run before the timer above.
const stalledNow = () => stalledMs + Math.max(0, performance.now() - lastTick - 50)
// Tells the harness this process is responsive, and how long its loop was blocked so far: a call
// is only judged hung while its caller could have noticed its deadline.
setInterval(() => send({ t: 'tick', stall: Math.round(stalledNow()) }), 200)

manager.on('error', () => {})
manager.on('request', (req) => req.reply({ from: 'parent', pid: process.pid }))
manager.on('message', () => {})
for (const name of ['machineConnect', 'machineDisconnect', 'machineReady', 'machineError', 'instanceGaveUp', 'instanceDeath', 'instanceReady']) {
  manager.on(name, (data) => send({ t: 'event', name, at: Date.now(), data: plain(data) }))
}
manager.on('error', (err) => send({ t: 'event', name: 'error', at: Date.now(), data: errorInfo(err) }))

function plain(value) {
  try {
    return JSON.parse(JSON.stringify(value ?? null, (_k, v) => (v instanceof Error ? errorInfo(v) : typeof v === 'bigint' ? String(v) : v)))
  } catch {
    return String(value)
  }
}

let started = false
process.on('message', async (msg) => {
  if (msg.t === 'status') {
    let status = null
    try {
      status = manager.status()
    } catch (err) {
      status = { error: errorInfo(err) }
    }
    return send({ t: 'status', id: msg.id, status: plain(status), started })
  }
  if (msg.t === 'stop') {
    try {
      await manager.stop()
      send({ t: 'stopped', id: msg.id, ok: true })
    } catch (err) {
      send({ t: 'stopped', id: msg.id, ok: false, error: errorInfo(err) })
    }
    return
  }
  if (msg.t === 'respawn') {
    const t0 = Date.now()
    try {
      await manager.respawn(msg.instance)
      send({ t: 'respawned', id: msg.id, ok: true, ms: Date.now() - t0 })
    } catch (err) {
      send({ t: 'respawned', id: msg.id, ok: false, ms: Date.now() - t0, error: errorInfo(err) })
    }
    return
  }
  if (msg.t === 'call') {
    send({ t: 'accepted', id: msg.id }) // the deadline runs from here, not from the harness's send
    const t0 = performance.now()
    const stall0 = stalledNow()
    const done = (ok, extra) => send({ t: 'result', id: msg.id, ok, ms: Math.round(performance.now() - t0), stall: Math.round(stalledNow() - stall0), ...extra })
    try {
      const value = await runParentOp(manager, msg.op, msg.timeout, msg.arg)
      done(true, { partialErrors: Array.isArray(value) ? value.filter((e) => e && e.ok === false).map((e) => e.error?.code ?? e.error?.name ?? 'unknown') : undefined })
    } catch (err) {
      done(false, errorInfo(err))
    }
  }
})

const t0 = Date.now()
manager.start().then(
  () => {
    started = true
    send({ t: 'started', ms: Date.now() - t0 })
  },
  (err) => send({ t: 'startFailed', ms: Date.now() - t0, error: errorInfo(err) }),
)

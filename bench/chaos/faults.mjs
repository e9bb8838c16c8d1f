// Fault injectors. Each takes the run and one planned event, breaks something, and returns:
//   targets   what it hit (for the log)
//   endAt     when the fault was over (a cut is restored, a kill is instant)
//   until(s)  extra condition on the readiness state `s` before the bot counts as recovered
//             (e.g. the killed instance runs under a new pid), on top of all-ready
//   after()   checks once recovered (e.g. a cut link's shards never restarted)
// They act on processes and sockets from the outside, never through the library's internals.

const instancesOf = (machine, pids) => machine.instanceIds.map((id) => pids[id]).filter(Boolean)

function pickDistinct(random, list, n) {
  const pool = [...list]
  const out = []
  while (out.length < n && pool.length > 0) out.push(pool.splice(random.int(pool.length), 1)[0])
  return out
}

/**
 * For faults planned `duringRespawn`: SIGKILL one instance (on `machines` when given) and wait a
 * moment, so the fault lands while it is coming back. Returns { id, pid } or null.
 */
async function killFirst(run, event, machines = run.topo.machines) {
  if (!event.duringRespawn) return null
  const ids = machines.flatMap((m) => m.instanceIds).filter((id) => run.state.pids[id])
  if (ids.length === 0) return null
  const id = run.random.pick(ids)
  const pid = run.state.pids[id]
  if (!run.registry.kill(pid, 'SIGKILL')) return null
  await run.sleep(100 + run.random.int(500))
  return { id, pid }
}

const replaced = (first, s) => !first || (s.pids[first.id] && s.pids[first.id] !== first.pid)
const firstLabel = (first) => (first ? ` after killing instance ${first.id} (pid ${first.pid})` : '')

/** SIGKILL `size` random instances. */
async function kill(run, event) {
  const { pids } = run.state
  const ids = pickDistinct(run.random, Object.keys(pids).map(Number), event.size)
  const killed = {}
  for (const id of ids) {
    const pid = pids[id]
    if (pid && run.registry.kill(pid, 'SIGKILL')) killed[id] = pid
  }
  return {
    targets: Object.entries(killed).map(([id, pid]) => `instance ${id} (pid ${pid})`),
    killedCount: Object.keys(killed).length,
    endAt: Date.now(),
    until: (s) => Object.entries(killed).every(([id, pid]) => s.pids[id] && s.pids[id] !== pid && run.registry.alive(s.pids[id])),
  }
}

/** Crash (SIGKILL) or stop (SIGTERM) one child manager, start it again on the same port. */
async function childRestart(run, event) {
  const machine = run.random.pick(run.topo.machines)
  const before = instancesOf(machine, run.state.pids)
  machine.expectedExit = true
  const exit = await machine.kill(event.signal, 15_000)
  if (exit === null) {
    run.finding('child-stop-hung', `child manager ${machine.id} still running 15 s after ${event.signal}`, { machine: machine.id })
    await machine.kill('SIGKILL', 5000)
  }
  // Orphans must exit by themselves at once (their manager is gone): check without holding up recovery.
  run.expectGone(before, 5000, `instance of child manager ${machine.id} still alive 5 s after its manager got ${event.signal}`)
  machine.restarts++
  await machine.start()
  machine.expectedExit = false
  return {
    targets: [`${machine.id} (${event.signal})`],
    endAt: Date.now(),
    until: (s) => instancesOf(machine, s.pids).length === machine.instanceIds.length && instancesOf(machine, s.pids).every((p) => !before.includes(p)),
  }
}

/** Cut `size` links at the proxy (reset or blackhole), hold, restore. Shards must keep running. */
async function cut(run, event) {
  const machines = pickDistinct(run.random, run.topo.machines, event.size)
  const first = await killFirst(run, event, machines)
  const before = Object.fromEntries(machines.map((m) => [m.id, instancesOf(m, run.state.pids).filter((p) => p !== first?.pid)]))
  const cutAt = Date.now()
  for (const m of machines) m.proxy.cut(event.mode)
  await run.sleep(event.holdMs)
  const restoreAt = Date.now()
  for (const m of machines) m.proxy.restore()
  return {
    targets: machines.map((m) => `${m.id} (${event.mode}, ${event.holdMs} ms${firstLabel(first)})`),
    endAt: restoreAt,
    until: (s) => machines.every((m) => s.linksUp[m.id]) && replaced(first, s),
    after: async () => {
      for (const m of machines) {
        const dropped = run.managerEvents.some((e) => e.name === 'machineDisconnect' && e.data?.machine === m.id && e.at >= cutAt)
        // status() may show the link up a moment before the machineConnect event reaches us.
        const findConnect = () => run.managerEvents.find((e) => e.name === 'machineConnect' && e.data?.machine === m.id && e.at >= restoreAt)
        for (let i = 0; dropped && !findConnect() && i < 20; i++) await run.sleep(100)
        const connect = findConnect()
        run.linkReconnects.push({ machine: m.id, mode: event.mode, holdMs: event.holdMs, dropped, reconnectMs: connect ? connect.at - restoreAt : null, resumed: connect?.data?.resumed ?? null })
        const after = instancesOf(m, run.state.pids)
        const restarted = before[m.id].filter((p) => !after.includes(p))
        if (restarted.length > 0) {
          run.finding('cut-restarted-shards', `cutting the link to ${m.id} restarted its instances (pids ${restarted.join(', ')} gone); shards should keep running`, { machine: m.id })
        }
      }
    },
  }
}

/** SIGKILL the parent process and start a new one, which must re-adopt every running instance. */
async function parentRestart(run, event) {
  const old = run.parent
  const first = await killFirst(run, event)
  const before = Object.values(run.state.pids).filter((p) => p !== first?.pid)
  old.expectedExit = true
  old.kill('SIGKILL')
  await old.exitedPromise
  run.ledger.callerGone(old.caller)
  const spawnAt = Date.now()
  const fresh = await run.startParent()
  return {
    targets: [`parent ${old.generation} (pid ${old.pid})${firstLabel(first)} → ${fresh.generation} (pid ${fresh.pid}, start() ${fresh.started ? `${fresh.startMs} ms` : 'did not settle'})`],
    endAt: spawnAt,
    until: (s) => run.parent.started && replaced(first, s),
    after: async () => {
      const now = Object.values(run.state.pids)
      const restarted = before.filter((p) => !now.includes(p))
      if (restarted.length > 0) run.finding('readopt-restarted', `a restarted parent restarted instances (pids ${restarted.join(', ')}) instead of re-adopting them`)
    },
  }
}

/** Busy-loop one instance's event loop (SIGUSR2): the manager must find it hung, kill and respawn it. */
async function hang(run) {
  const { pids } = run.state
  const id = run.random.pick(Object.keys(pids).map(Number))
  const pid = pids[id]
  run.hanging.add(pid)
  run.registry.kill(pid, 'SIGUSR2')
  return {
    targets: [`instance ${id} (pid ${pid})`],
    endAt: Date.now(),
    until: (s) => s.pids[id] && s.pids[id] !== pid,
    after: async () => run.expectGone([pid], 10_000, `hung instance ${id} (pid ${pid}) still alive 10 s after it was replaced`),
  }
}

/**
 * Stall one link (the proxy stops forwarding parent → child) and push large messages through it until
 * the link's queue bound refuses them; then restore. The sends must settle in time, and the bound
 * should surface as BACKPRESSURE.
 */
async function fill(run) {
  const machine = run.random.pick(run.topo.machines)
  machine.proxy.stall()
  const bytes = 2 * 1024 * 1024
  const count = 48 // 96 MiB, over the link's 64 MiB queue bound
  const timeout = run.config.timeoutMax
  const sends = []
  if (run.parent?.started) {
    for (let i = 0; i < count; i++) sends.push(run.traffic.call('fill', timeout, { machine: machine.id, bytes }))
  }
  const codes = {}
  const tally = (o) => {
    const key = o === null ? 'parent gone' : o.ok ? 'ok' : o.code
    codes[key] = (codes[key] ?? 0) + 1
  }
  // The link stays stalled until every send settled (or well past their deadline): the queue stays full meanwhile.
  const settled = Promise.all(sends.map((p) => p.then(tally)))
  await Promise.race([settled, run.sleep(timeout + 6000)])
  machine.proxy.restore()
  const pending = sends.length - Object.values(codes).reduce((a, b) => a + b, 0)
  if (pending > 0) codes.pending = pending
  run.fills.push({ machine: machine.id, sends: sends.length, codes: { ...codes }, backpressure: (codes.BACKPRESSURE ?? 0) > 0 })
  return { targets: [`${machine.id} (${count} × ${bytes >> 20} MiB while stalled: ${JSON.stringify(codes)})`], endAt: Date.now(), until: (s) => s.linksUp[machine.id] }
}

/**
 * manager.respawn(id) through the parent: a graceful restart whose shards RESUME. It takes no
 * deadline, so it must settle by itself; planned with `mode`, the machine's link is cut for a
 * second while it runs.
 */
async function respawn(run, event) {
  const id = run.random.pick(Object.keys(run.state.pids).map(Number))
  const pid = run.state.pids[id]
  const machine = run.topo.machines.find((m) => m.instanceIds.includes(id))
  const t0 = Date.now()
  const answer = run.parent.respawn(id, run.config.recoverMs)
  if (event.mode) {
    await run.sleep(100)
    machine.proxy.cut('reset')
    await run.sleep(1000)
    machine.proxy.restore()
  }
  const reply = await answer
  if (reply === null && !run.aborted) run.finding('respawn-hung', `manager.respawn(${id}) did not settle within ${run.config.recoverMs} ms${event.mode ? ' (its link was cut for 1 s meanwhile)' : ''}`)
  else if (reply && !reply.ok) {
    const message = `manager.respawn(${id}) rejected after ${reply.ms} ms: ${reply.error?.code} ${reply.error?.message}${event.mode ? ' (link cut meanwhile)' : ''}`
    // With its link cut, a typed link error is a fair answer; anything else is a finding.
    if (event.mode && run.ledger.faultCodes.has(reply.error?.code)) run.observe(message)
    else run.finding('respawn-rejected', message)
  }
  return {
    targets: [`instance ${id} (pid ${pid})${event.mode ? ', link cut for 1 s meanwhile' : ''}: respawn() ${reply ? (reply.ok ? `resolved in ${reply.ms} ms` : `rejected ${reply.error?.code}`) : 'never settled'}`],
    endAt: t0,
    until: (s) => s.pids[id] && s.pids[id] !== pid,
  }
}

export const INJECTORS = { kill, childRestart, cut, parentRestart, hang, fill, respawn }

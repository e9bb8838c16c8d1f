// One chaos run: build the topology, start the parent, wait for all-ready, then inject the planned
// faults one event at a time (each followed by a wait for all-ready) under continuous traffic, and
// finally stop everything and check that nothing was left behind. Always ends, always cleans up.
import { makeRandom } from './config.mjs'
import { INJECTORS } from './faults.mjs'
import { CallLedger, GRACE_MS, HUNG_MARGIN_MS } from './ledger.mjs'
import { ParentHandle } from './parent.mjs'
import { planFaults } from './plan.mjs'
import { ProcessRegistry } from './procs.mjs'
import { readiness } from './readiness.mjs'
import { SimulatorWatch } from './simwatch.mjs'
import { LoopStall } from './stall.mjs'
import { buildTopology, removeRunDir } from './topology.mjs'
import { botResults, ParentTraffic } from './traffic.mjs'

export class ChaosRun {
  constructor(config, log = console.log) {
    this.config = config
    this.log = log
    this.random = makeRandom(config.seed)
    this.registry = new ProcessRegistry()
    this.owned = {}
    this.ledger = new CallLedger({ extraCodes: (process.env.CHAOS_EXTRA_CODES ?? '').split(',').filter(Boolean) })
    this.bots = new Map()
    this.hanging = new Set()
    this.managerEvents = []
    this.linkReconnects = []
    this.fills = []
    this.findings = []
    this.observations = []
    this.faults = []
    this.repairs = []
    this.parents = []
    this.parent = null
    this.state = { ready: false, reason: 'not started', pids: {}, linksUp: {} }
    this.currentFault = null
    this.stall = new LoopStall()
    this.timers = []
    this.aborted = null
    this.abortWaiters = new Set()
    this.shutdown = {}
    this.pendingChecks = []
  }

  abort(reason) {
    if (this.aborted) return
    this.aborted = reason
    this.log(`aborting: ${reason}`)
    for (const wake of this.abortWaiters) wake()
  }

  /** Resolves after `ms`, or at once when the run is aborted. */
  sleep(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.abortWaiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.abortWaiters.add(done)
      if (this.aborted) done()
    })
  }

  finding(kind, message, detail = {}) {
    this.findings.push({ kind, message, at: Date.now(), fault: this.currentFault?.kind ?? null, ...detail })
    this.log(`  FINDING [${kind}] ${message}`)
  }

  /** Something worth reporting that breaks no check. */
  observe(message) {
    this.observations.push({ message, at: Date.now(), fault: this.currentFault?.kind ?? null })
    this.log(`  note: ${message}`)
  }

  /** Checks in the background that `pids` exit within `ms`; survivors are findings and get SIGKILLed. */
  expectGone(pids, ms, message) {
    const check = this.registry.waitGone(pids, ms).then((left) => {
      for (const e of left) {
        this.finding('process-left', `${message} (pid ${e.pid})`, { pid: e.pid })
        this.registry.kill(e.pid, 'SIGKILL')
      }
    })
    this.pendingChecks.push(check)
    return check
  }

  isAlive(caller) {
    const [kind, id] = caller.split(':')
    if (kind === 'parent') return this.parents[Number(id) - 1]?.exited === false
    const pid = Number(id)
    return !this.hanging.has(pid) && this.registry.alive(pid)
  }

  /** Starts a new parent generation and waits until its start() settles (or recoverMs passes). */
  async startParent() {
    const generation = this.parents.length + 1
    const parent = new ParentHandle(generation, this.topo.optionsFile, { verbose: this.config.verbose })
    this.parents.push(parent)
    this.parent = parent
    this.registry.add(parent.pid, 'parent', { generation })
    parent.on('managerEvent', (e) => {
      this.managerEvents.push({ ...e, generation })
      if (this.config.verbose) this.log(`    parent ${generation}: ${e.name} ${JSON.stringify(e.data).slice(0, 160)}`)
    })
    parent.on('exit', (info) => {
      this.ledger.callerGone(parent.caller)
      if (!parent.expectedExit) this.finding('parent-crashed', `parent ${generation} exited by itself (${info.code ?? info.signal}): ${parent.stderr.slice(-300)}`)
    })
    const outcome = await new Promise((resolve) => {
      const onAbort = () => settle('aborted')
      const timer = setTimeout(() => settle('timeout'), this.config.recoverMs)
      function settle(v) {
        clearTimeout(timer)
        run.abortWaiters.delete(onAbort)
        resolve(v)
      }
      const run = this
      parent.once('started', () => settle('started'))
      parent.once('startFailed', () => settle('failed'))
      parent.once('exit', () => settle('exited'))
      this.abortWaiters.add(onAbort)
      if (this.aborted) onAbort()
    })
    if (outcome === 'failed') this.finding('start-rejected', `parent ${generation}: start() rejected: ${parent.startError?.code} ${parent.startError?.message}`)
    if (outcome === 'timeout') this.finding('start-hung', `parent ${generation}: start() did not settle within ${this.config.recoverMs} ms`)
    return parent
  }

  /** Reads the parent's status and the simulator's sessions into this.state. */
  async poll() {
    const parent = this.parent
    const status = parent?.started && !parent.exited ? await parent.status(1500) : null
    for (const m of status?.machines ?? []) for (const i of m.instances ?? []) if (i.pid) this.registry.add(i.pid, 'instance', { instance: i.id, machine: m.id })
    this.state = { at: Date.now(), ...readiness(status, this.owned.sim.stats().sessions.byShard, this.expected) }
    return this.state
  }

  /** Polls until all-ready and `until(state)`; resolves with the time, or null after `timeoutMs` / on abort. */
  async waitReady(until = () => true, timeoutMs = this.config.recoverMs, { evenIfAborted = false } = {}) {
    const end = Date.now() + timeoutMs
    while (evenIfAborted || !this.aborted) {
      const s = await this.poll()
      if (s.ready && until(s)) return Date.now()
      if (Date.now() > end) return null
      await (evenIfAborted ? new Promise((r) => setTimeout(r, 100)) : this.sleep(100))
    }
    return null
  }

  sweep() {
    this.results?.poll()
    // A parent that has not ticked for a second is blocked right now: its calls cannot be judged yet.
    const excuse = (caller, at) => {
      const own = this.stall.since(at)
      if (!caller.startsWith('parent:')) return own
      const parent = this.parents[Number(caller.split(':')[1]) - 1]
      return parent.responsive() ? own + parent.stallSince(at) : Infinity
    }
    const newly = this.ledger.sweep(Date.now(), (c) => this.isAlive(c), excuse)
    for (const c of newly) this.log(`  PENDING ${c.source} ${c.op} (${c.id}, timeout ${c.timeout} ms) ${Date.now() - c.at} ms after it was made; hung unless it settles`)
  }

  async execute() {
    const { config } = this
    this.startedAt = Date.now()
    const hardCap = setTimeout(() => this.abort(`time cap reached (${Math.round(this.capMs / 1000)} s)`), (this.capMs = config.durationS * 2000 + 120_000))
    try {
      this.topo = await buildTopology(config, this.registry, this.owned, this.log)
      this.expected = { machines: this.topo.machines.map((m) => m.id), instances: config.instances, totalShards: config.totalShards }
      this.simWatch = new SimulatorWatch(this)
      for (const m of this.topo.machines) this.watchChild(m)
      this.results = botResults(this)
      this.timers.push(setInterval(() => this.sweep(), 250))

      const t0 = Date.now()
      await this.startParent()
      const initialReady = await this.waitReady()
      if (initialReady === null) {
        this.finding('initial-start', `the bot never became all-ready at start (${this.state.reason})`)
        return this.abort('no initial all-ready')
      }
      this.initialReadyMs = initialReady - t0
      this.log(`all ready in ${this.initialReadyMs} ms: ${config.instances} instances, ${config.totalShards} shards on ${config.machines} machines`)
      this.simWatch.startPhase()
      this.traffic = new ParentTraffic(this)
      this.traffic.start()
      await this.faultPhase()
      await this.drain()
    } catch (err) {
      this.finding('harness-error', `the harness failed: ${err?.stack ?? err}`)
    } finally {
      clearTimeout(hardCap)
      await this.teardown()
    }
  }

  async faultPhase() {
    const { config } = this
    this.plan = planFaults(config.quotas, { instances: config.instances, machines: config.machines }, this.random)
    this.phaseStart = Date.now()
    const slot = (config.durationS * 1000) / Math.max(1, this.plan.length)
    this.log(`fault phase: ${this.plan.length} events over ${config.durationS} s (seed ${config.seed})`)
    for (const [i, event] of this.plan.entries()) {
      if (this.aborted) break
      const wait = this.phaseStart + i * slot - Date.now()
      if (wait > 0) await this.sleep(wait)
      if (this.aborted) break
      if (!this.state.ready && (await this.waitReady()) === null) {
        this.finding('not-ready-before-fault', `not all-ready before fault ${event.seq} (${this.state.reason}); injecting anyway`)
      }
      await this.injectOne(event)
    }
    this.phaseEnd = Date.now()
  }

  async injectOne(event) {
    const injectAt = Date.now()
    this.currentFault = { kind: event.kind, variant: [event.signal ?? event.mode, event.duringRespawn ? 'during respawn' : null].filter(Boolean).join(', ') || null, seq: event.seq, injectAt }
    const result = await INJECTORS[event.kind](this, event)
    const readyAt = await this.waitReady(result.until)
    const record = { ...event, injectAt, endAt: result.endAt, readyAt, recoverMs: readyAt === null ? null : readyAt - result.endAt, targets: result.targets, count: result.killedCount ?? result.targets.length }
    this.faults.push(record)
    if (readyAt === null && !this.aborted) {
      this.finding('not-recovered', `fault ${event.seq} (${event.kind}: ${result.targets.join(', ')}) not back to all-ready within ${this.config.recoverMs} ms: ${this.state.reason}`)
      await this.repair(event)
    }
    if (readyAt !== null) await result.after?.()
    this.currentFault = null
    const elapsed = Math.round((Date.now() - this.phaseStart) / 1000)
    this.log(`[${elapsed}s] #${event.seq}/${this.plan.length} ${event.kind}: ${result.targets.join(', ')} → ${readyAt === null ? 'NOT recovered' : `all-ready ${record.recoverMs} ms after the fault ended`}`)
  }

  /**
   * After a fault the bot did not recover from: get back to all-ready from the outside, so the rest of
   * the run still tests something: a parent whose start() never settled is replaced; an instance that
   * is not ready gets manager.respawn(); failing that, its child manager is restarted. Each step is recorded.
   */
  async repair(event) {
    for (let round = 0; round < 2 && !this.aborted && !(await this.poll()).ready; round++) {
      const reason = this.state.reason ?? ''
      if (!this.parent?.started || this.parent.exited) {
        this.parent.expectedExit = true
        this.parent.kill('SIGKILL')
        await this.parent.exitedPromise
        await this.startParent()
        this.repairs.push({ after: event.seq, action: `restart the parent (${reason})`, outcome: this.parent.started ? 'started' : 'start() did not settle' })
        if ((await this.waitReady(() => true, 30_000)) !== null) break
        continue
      }
      const instance = /^instance (\d+) is /.exec(reason)?.[1]
      if (instance !== undefined) {
        const reply = await this.parent.respawn(Number(instance), 20_000)
        this.repairs.push({ after: event.seq, action: `manager.respawn(${instance}) (${reason})`, outcome: reply ? (reply.ok ? `resolved in ${reply.ms} ms` : `rejected ${reply.error?.code}`) : 'did not settle in 20 s' })
        if (!reply) this.finding('respawn-hung', `repair: manager.respawn(${instance}) of a stuck instance (${reason}) did not settle within 20 s`)
        if ((await this.waitReady(() => true, 20_000)) !== null) break
      }
      const named = this.topo.machines.filter((m) => m.instanceIds.includes(Number(instance)) || reason.includes(`machine ${m.id} `))
      for (const m of named.length ? named : this.topo.machines) {
        m.expectedExit = true
        await m.kill('SIGKILL', 5000)
        await m.start()
        m.expectedExit = false
        this.repairs.push({ after: event.seq, action: `restart child manager ${m.id} (${reason})` })
      }
      await this.waitReady(() => true, 30_000)
    }
    this.log(`  repair after fault ${event.seq}: ${this.state.ready ? 'all-ready again' : `still not ready (${this.state.reason})`}`)
  }

  /** Stops the traffic and waits until every parent call had the time to settle. */
  async drain() {
    this.traffic?.stop()
    const end = Date.now() + this.config.timeoutMax + GRACE_MS + HUNG_MARGIN_MS + 500
    while (Date.now() < end && !this.aborted) {
      this.sweep()
      if (this.ledger.all().every((c) => c.state !== 'open' || c.source !== 'parent')) break
      await this.sleep(200)
    }
    this.sweep()
  }

  watchChild(machine) {
    const original = machine.start.bind(machine)
    machine.start = async () => {
      await original()
      const proc = machine.proc
      proc.once('exit', (code, signal) => {
        if (machine.proc === proc && !machine.expectedExit && !this.tearingDown) {
          this.finding('child-crashed', `child manager ${machine.id} exited by itself (${code ?? signal})`)
        }
      })
    }
  }

  /** Orderly stop, then checks that no process is left; kills whatever is. Never throws. */
  async teardown() {
    this.tearingDown = true
    for (const t of this.timers) clearInterval(t)
    this.traffic?.stop()
    const sd = this.shutdown
    try {
      // An interrupted fault may have left a link cut: heal everything so stop() can reach every machine.
      for (const p of this.owned.proxies ?? []) p.restore()
      const parent = this.parent
      if (parent?.started && !parent.exited && this.aborted) await this.waitReady((s) => Object.values(s.linksUp).every(Boolean), 15_000, { evenIfAborted: true })
      if (parent && !parent.exited) {
        sd.stop = await parent.stop(30_000)
        if (sd.stop.hung) this.finding('stop-hung', `parent.stop() did not settle within 30 s`)
        else if (!sd.stop.ok) this.finding('stop-rejected', `parent.stop() rejected: ${sd.stop.error?.code} ${sd.stop.error?.message}`)
      }
      this.results?.poll()
      const instances = this.registry.living((e) => e.role === 'instance').map((e) => e.pid)
      const left = await this.registry.waitGone(instances, 10_000)
      sd.instancesLeftAfterStop = left.map((e) => e.pid)
      for (const e of left) this.finding('process-left', `instance ${e.instance} (pid ${e.pid}) still running 10 s after parent.stop() resolved`, { pid: e.pid })
      await Promise.all(
        (this.topo?.machines ?? []).map(async (m) => {
          m.expectedExit = true
          const exit = await m.kill('SIGTERM', 15_000)
          if (m.running) {
            this.finding('child-stop-hung', `child manager ${m.id} still running 15 s after SIGTERM`)
            await m.kill('SIGKILL', 5000)
          } else if (exit && exit.code !== 0) this.finding('child-exit-code', `child manager ${m.id} exited with ${exit.code ?? exit.signal} on SIGTERM`)
        }),
      )
      for (const p of this.parents) {
        p.expectedExit = true
        p.kill('SIGTERM')
      }
      await Promise.all(this.parents.map((p) => Promise.race([p.exitedPromise, new Promise((r) => setTimeout(r, 5000))])))
      await Promise.all(this.pendingChecks)
      this.results?.poll()
      this.ledger.finish((c) => this.isAlive(c))
      const all = this.registry.all().map((e) => e.pid)
      const leaked = await this.registry.waitGone(all, 5000)
      sd.leaked = leaked.map((e) => ({ pid: e.pid, role: e.role }))
      for (const e of leaked) {
        this.finding('process-left', `${e.role} pid ${e.pid} still running after the run stopped`, { pid: e.pid })
        this.registry.kill(e.pid, 'SIGKILL')
      }
    } catch (err) {
      this.finding('harness-error', `teardown failed: ${err?.stack ?? err}`)
      this.hardKill()
    } finally {
      this.simWatch?.stop()
      this.finalSim = this.owned.sim ? this.owned.sim.stats() : null
      await Promise.allSettled([this.owned.sim?.stop(), ...(this.owned.proxies ?? []).map((p) => p.close())])
      this.stall.stop()
      this.endedAt = Date.now()
      if (this.findings.length === 0 || process.env.CHAOS_KEEP_DIR !== '1') removeRunDir(this.owned.dir)
      else this.log(`run directory kept: ${this.owned.dir}`)
    }
  }

  /** Last resort (second Ctrl-C, teardown failure): SIGKILL everything this run knows about. */
  hardKill() {
    for (const p of this.parents) p.kill('SIGKILL')
    for (const m of this.owned.machines ?? []) if (m.running) m.proc.kill('SIGKILL')
    for (const e of this.registry.all()) this.registry.kill(e.pid, 'SIGKILL')
  }
}

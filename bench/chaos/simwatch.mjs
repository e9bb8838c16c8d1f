// Watches the gateway simulator for the run: identify-window violations, duplicate live sessions
// (checked on every new or resumed session and twice a second), and how shards came back during
// the fault phase (a new session = IDENTIFY, or a RESUME), per fault kind.
export class SimulatorWatch {
  constructor(run) {
    this.run = run
    this.sim = run.owned.sim
    this.violations = []
    this.duplicates = [] // { at, shards, fault }
    this.lastDuplicateKey = ''
    this.phase = 'initial'
    this.comebacks = {} // phase or fault kind → { identify, resume }
    this.invalidSessions = {}
    this.listeners = {
      violation: (v) => {
        this.violations.push({ ...v, fault: run.currentFault?.kind ?? this.phase })
        run.log(`  VIOLATION identify key ${v.key} shard ${v.shard}: gap ${v.gapMs} ms`)
      },
      session: () => this.count('identify'),
      resume: () => this.count('resume'),
      invalidSession: (e) => (this.invalidSessions[e.reason] = (this.invalidSessions[e.reason] ?? 0) + 1),
    }
    for (const [name, fn] of Object.entries(this.listeners)) this.sim.on(name, fn)
    this.timer = setInterval(() => this.checkDuplicates(), 500)
  }

  startPhase() {
    this.phase = 'steady'
  }

  count(how) {
    const f = this.run.currentFault
    const key = this.phase === 'initial' ? 'initial' : f ? `${f.kind}${f.variant ? ` ${f.variant}` : ''}` : 'steady'
    this.comebacks[key] ??= { identify: 0, resume: 0 }
    this.comebacks[key][how]++
    this.checkDuplicates()
  }

  checkDuplicates() {
    const dups = this.sim.stats().sessions.duplicates
    const key = dups.join(',')
    if (key && key !== this.lastDuplicateKey) {
      this.duplicates.push({ at: Date.now(), shards: dups, fault: this.run.currentFault?.kind ?? this.phase })
      this.run.log(`  DUPLICATE live sessions for ${key}`)
    }
    this.lastDuplicateKey = key
  }

  stop() {
    clearInterval(this.timer)
    for (const [name, fn] of Object.entries(this.listeners)) this.sim.off(name, fn)
  }
}

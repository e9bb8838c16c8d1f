// Turns a finished run into a summary object (pure) and prints it as Markdown that can be pasted
// into BENCHMARKS.md. The checks that decide the exit code are computed here.
import { FAULT_KINDS, FAULT_LABELS } from './plan.mjs'
import { GRACE_MS } from './ledger.mjs'
import { summarize } from './readiness.mjs'

const QUOTA_OF = { kill: 'kills', cut: 'cuts', parentRestart: 'parentRestarts', childRestart: 'childRestarts', hang: 'hangs', fill: 'fills', respawn: 'respawns' }

/** The fault whose window [injected, back to all-ready] overlaps the call, 'startup' before the fault phase, or 'steady'. */
export function faultDuring(faults, start, end, phaseStart = -Infinity) {
  if (start < phaseStart) return 'startup'
  for (const f of faults) {
    const until = f.readyAt ?? f.endAt + 60_000
    if (f.injectAt <= end && start <= until) return f.kind
  }
  return 'steady'
}

const emptyCalls = () => ({ made: 0, ok: 0, failed: 0, wrongType: 0, unexpectedSuccess: 0, inTime: 0, late: 0, lateStalled: 0, hung: 0, lost: 0 })

export function summarizeCalls(calls, faults, phaseStart) {
  const bySource = { parent: emptyCalls(), instance: emptyCalls() }
  const byCode = {}
  const byFault = {}
  const onPurpose = {} // ops that fail on purpose: op → outcome → n
  const byOp = {} // 'source op' → verdict and timing counts, worst overrun of deadline + grace
  const samples = { wrongType: [], unexpectedSuccess: [], hung: [], late: [] }
  for (const c of calls) {
    const s = bySource[c.source] ?? (bySource[c.source] = emptyCalls())
    s.made++
    // 'lost' is both a verdict and a timing: count it once, through the timing.
    if (c.verdict !== 'lost') s[c.verdict]++
    s[c.timing]++
    const o = c.outcome
    const kind = faultDuring(faults, c.at, c.at + (o?.ms ?? c.timeout), phaseStart)
    const op = (byOp[`${c.source} ${c.op}`] ??= { ...emptyCalls(), worstOverMs: 0 })
    op.made++
    if (c.verdict !== 'lost') op[c.verdict]++
    op[c.timing]++
    if (o) op.worstOverMs = Math.max(op.worstOverMs, o.ms - c.timeout - GRACE_MS)
    if (c.expect) {
      const key = !o ? c.timing : o.ok ? 'ok' : (o.code ?? o.name)
      onPurpose[c.op] ??= { expect: c.expect }
      onPurpose[c.op][key] = (onPurpose[c.op][key] ?? 0) + 1
    } else if (o && !o.ok) {
      const code = o.code ?? `(no code: ${o.name})`
      byCode[code] ??= { parent: 0, instance: 0 }
      byCode[code][c.source]++
      byFault[kind] ??= {}
      byFault[kind][code] = (byFault[kind][code] ?? 0) + 1
    }
    for (const key of ['wrongType', 'unexpectedSuccess']) if (c.verdict === key && samples[key].length < 8) samples[key].push(sample(c, kind))
    for (const key of ['hung', 'late']) if (c.timing === key && samples[key].length < 8) samples[key].push(sample(c, kind))
  }
  const total = emptyCalls()
  for (const s of Object.values(bySource)) for (const k of Object.keys(total)) total[k] += s[k] ?? 0
  return { bySource, total, byCode, byFault, onPurpose, byOp, samples }
}

function sample(c, fault) {
  const o = c.outcome ?? {}
  return { id: c.id, at: c.at, stall: o.stall ?? null, source: c.source, op: c.op, timeout: c.timeout, ms: o.ms ?? null, code: o.code ?? null, name: o.name ?? null, message: o.message ?? null, partialErrors: o.partialErrors, fault }
}

export function buildSummary(run) {
  const { config } = run
  const faults = {}
  for (const kind of FAULT_KINDS) {
    const list = run.faults.filter((f) => f.kind === kind)
    faults[kind] = {
      label: FAULT_LABELS[kind],
      planned: config.quotas[QUOTA_OF[kind]],
      injected: list.reduce((n, f) => n + f.count, 0),
      events: list.length,
      recover: summarize(list.map((f) => f.recoverMs)),
      notRecovered: list.filter((f) => f.readyAt === null).length,
    }
  }
  const calls = summarizeCalls(run.ledger.all(), run.faults, run.phaseStart)
  const dropped = run.linkReconnects.filter((r) => r.dropped && r.reconnectMs !== null)
  const comebacks = run.simWatch?.comebacks ?? {}
  const faultComebacks = Object.entries(comebacks).filter(([k]) => k !== 'initial')
  const resumes = faultComebacks.reduce((n, [, v]) => n + v.resume, 0)
  const identifies = faultComebacks.reduce((n, [, v]) => n + v.identify, 0)
  const roles = {}
  for (const e of run.registry.all()) roles[e.role] = (roles[e.role] ?? 0) + 1
  const summary = {
    meta: {
      startedAt: new Date(run.startedAt).toISOString(),
      wallS: Math.round((run.endedAt - run.startedAt) / 1000),
      phaseS: run.phaseEnd ? Math.round((run.phaseEnd - run.phaseStart) / 1000) : null,
      durationS: config.durationS,
      seed: config.seed,
      aborted: run.aborted,
      initialReadyMs: run.initialReadyMs ?? null,
      topology: { machines: config.machines, totalShards: config.totalShards, instances: config.instances, shardsPerInstance: config.shardsPerInstance, maxConcurrency: config.maxConcurrency, windowMs: config.windowMs, bot: process.env.CHAOS_BOT_LIB ?? 'raw' },
      plannedEvents: run.plan?.length ?? 0,
      injectedEvents: run.faults.length,
    },
    faults,
    calls,
    links: { ...summarize(dropped.map((r) => r.reconnectMs)), cuts: run.linkReconnects.length, dropped: run.linkReconnects.filter((r) => r.dropped).length, resumedSessions: dropped.filter((r) => r.resumed).length, neverReconnected: run.linkReconnects.filter((r) => r.dropped && r.reconnectMs === null).length },
    resume: { resumes, identifies, share: resumes + identifies > 0 ? resumes / (resumes + identifies) : null, byKind: Object.fromEntries(faultComebacks) },
    sim: { violations: run.simWatch?.violations ?? [], duplicates: run.simWatch?.duplicates ?? [], invalidSessions: run.simWatch?.invalidSessions ?? {} },
    parents: run.parents.map((p) => ({ generation: p.generation, startMs: p.startMs, startError: p.startError })),
    fills: run.fills,
    shutdown: run.shutdown,
    processes: { started: roles, leaked: run.shutdown.leaked ?? [] },
    findings: run.findings,
    repairs: run.repairs,
    observations: run.observations,
    faultLog: run.faults,
    linkLog: run.linkReconnects,
  }
  summary.checks = checks(run, summary)
  summary.passed = summary.checks.every((c) => c.ok)
  return summary
}

function checks(run, s) {
  const t = s.calls.total
  const notRecovered = Object.values(s.faults).reduce((n, f) => n + f.notRecovered, 0)
  const leftBehind = run.findings.filter((f) => f.kind === 'process-left').length
  const crashes = run.findings.filter((f) => /crashed|harness-error/.test(f.kind)).length
  const startProblems = run.findings.filter((f) => /^start-|initial-start|^respawn-/.test(f.kind)).length
  const stopProblems = run.findings.filter((f) => /^stop-|child-stop-hung|child-exit-code/.test(f.kind)).length
  const missing = Object.entries(s.faults).filter(([, f]) => f.injected < f.planned).map(([k, f]) => `${k} ${f.injected}/${f.planned}`)
  return [
    { name: 'no call hung (pending past deadline + 1 s)', ok: t.hung === 0, detail: `${t.hung} hung` },
    { name: 'no call settled late (after deadline + 1 s)', ok: t.late === 0, detail: `${t.late} late (${t.lateStalled} more late only because the caller's own event loop was blocked)` },
    { name: 'every failure had an allowed error type', ok: t.wrongType + t.unexpectedSuccess === 0, detail: `${t.wrongType} wrong type, ${t.unexpectedSuccess} succeeded where an error was due` },
    { name: 'all-ready again after every fault', ok: notRecovered === 0 && !run.aborted, detail: `${notRecovered} not recovered${run.aborted ? `; run aborted: ${run.aborted}` : ''}` },
    { name: '0 identify violations', ok: s.sim.violations.length === 0, detail: `${s.sim.violations.length}` },
    { name: '0 duplicate live sessions', ok: s.sim.duplicates.length === 0, detail: `${s.sim.duplicates.length}` },
    { name: '0 processes left behind (orphans, hung instances, after stop)', ok: leftBehind === 0, detail: `${leftBehind}` },
    { name: 'every start(), respawn() and stop() settled', ok: startProblems + stopProblems === 0, detail: `${startProblems} start / respawn, ${stopProblems} stop problems` },
    { name: 'no manager process crashed by itself', ok: crashes === 0, detail: `${crashes}` },
    { name: 'every planned fault injected', ok: missing.length === 0, detail: missing.length ? missing.join(', ') : 'all' },
  ]
}

const ms = (v) => (v === null || v === undefined ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`)
const pct = (v) => (v === null ? '–' : `${(v * 100).toFixed(1)}%`)

export function formatSummary(s, { command = 'npm run chaos' } = {}) {
  const m = s.meta
  const tp = m.topology
  const lines = []
  lines.push(`### Chaos run: ${m.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${m.durationS} s fault phase (seed ${m.seed})`)
  lines.push('')
  lines.push(`Command: \`${command}\`. Wall time ${m.wallS} s (fault phase ${m.phaseS ?? '–'} s; ${m.injectedEvents}/${m.plannedEvents} fault events).`)
  lines.push(`Topology: parent manager in its own process, ${tp.machines} \`discordoo-child\` processes (PROCESSES mode) behind TCP proxies on loopback, ${tp.totalShards} shards in ${tp.instances} instances of ${tp.shardsPerInstance}, ${tp.bot === 'raw' ? 'raw gateway client bots' : 'discord.js bots'} against the gateway simulator (max_concurrency ${tp.maxConcurrency}, identify window ${tp.windowMs} ms). First all-ready: ${ms(m.initialReadyMs)}.`)
  if (m.aborted) lines.push(`**Aborted:** ${m.aborted}`)
  lines.push('')
  lines.push('| fault | injected | events | back to all-ready p50 | p90 | max | not recovered |')
  lines.push('|---|---|---|---|---|---|---|')
  for (const f of Object.values(s.faults)) lines.push(`| ${f.label} | ${f.injected} / ${f.planned} | ${f.events} | ${ms(f.recover.p50)} | ${ms(f.recover.p90)} | ${ms(f.recover.max)} | ${f.notRecovered} |`)
  lines.push('')
  lines.push('Back to all-ready: from the end of the fault (kill sent, link restored, new parent spawned) until the parent\'s `status()` shows every machine and instance ready and the simulator shows exactly one connected session per shard.')
  lines.push('')
  lines.push('| calls | made | ok | failed (allowed type) | wrong type | late | hung | lost with their caller |')
  lines.push('|---|---|---|---|---|---|---|---|')
  const row = (name, c) => lines.push(`| ${name} | ${c.made} | ${c.ok} | ${c.failed} | ${c.wrongType + c.unexpectedSuccess} | ${c.late} (+${c.lateStalled} caller stalled) | ${c.hung} | ${c.lost} |`)
  row('from the parent', s.calls.bySource.parent)
  row('from instances', s.calls.bySource.instance)
  row('**total**', s.calls.total)
  lines.push('')
  const codes = Object.entries(s.calls.byCode).sort((a, b) => b[1].parent + b[1].instance - (a[1].parent + a[1].instance))
  if (codes.length) {
    const kinds = [...new Set(Object.keys(s.calls.byFault))]
    lines.push('Failed calls by error code and by the fault under way when they were made:', '')
    lines.push(`| error code | from the parent | from instances | ${kinds.map((k) => `during ${k}`).join(' | ')} |`)
    lines.push(`|---|---|---|${kinds.map(() => '---|').join('')}`)
    for (const [code, n] of codes) lines.push(`| ${code} | ${n.parent} | ${n.instance} | ${kinds.map((k) => s.calls.byFault[k]?.[code] ?? 0).join(' | ')} |`)
    lines.push('')
  }
  const lateOps = Object.entries(s.calls.byOp).filter(([, v]) => v.late + v.hung > 0).sort((a, b) => b[1].late + b[1].hung - (a[1].late + a[1].hung))
  if (lateOps.length) lines.push(`Late or hung calls by op: ${lateOps.map(([k, v]) => `${k} ${v.late + v.hung}/${v.made} (worst ${ms(v.worstOverMs)} past deadline + 1 s)`).join(', ')}.`, '')
  const purpose = Object.entries(s.calls.onPurpose).map(([op, v]) => {
    const { expect, ...rest } = v
    return `\`${op}\` (must fail with ${expect}): ${Object.entries(rest).map(([k, n]) => `${n} ${k}`).join(', ')}`
  })
  if (purpose.length) lines.push(`Calls that fail on purpose (not in the table above): ${purpose.join('; ')}.`, '')
  const l = s.links
  lines.push(`- Link reconnect after restore: p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, max ${ms(l.max)} (${l.dropped} of ${l.cuts} cut links were seen down; ${l.resumedSessions} reconnects resumed the link session; ${l.neverReconnected} never reconnected).`)
  const byKind = Object.entries(s.resume.byKind).map(([k, v]) => `${k} ${v.resume}/${v.resume + v.identify}`).join(', ')
  lines.push(`- Shards that came back during faults by RESUME: ${pct(s.resume.share)} (${s.resume.resumes} resumes, ${s.resume.identifies} new sessions; ${byKind || '–'}).`)
  lines.push(`- Simulator: ${s.sim.violations.length} identify violations, ${s.sim.duplicates.length} duplicate live sessions, invalid sessions ${JSON.stringify(s.sim.invalidSessions)}.`)
  // Each violation with the fault under way, so a failed run says where to look.
  for (const v of s.sim.violations.slice(0, 10)) lines.push(`  - violation: key ${v.key}, shard ${v.shard}/${v.total}, ${v.gapMs} ms after the key's previous IDENTIFY, during ${v.fault}`)
  const restarts = s.parents.slice(1).map((p) => p.startMs).filter((v) => v !== null && v !== undefined)
  const st = summarize(restarts)
  lines.push(`- Restarted parents' \`start()\`: p50 ${ms(st.p50)}, max ${ms(st.max)} (${restarts.length} of ${Math.max(0, s.parents.length - 1)} settled); final \`stop()\`: ${s.shutdown.stop ? (s.shutdown.stop.hung ? 'HUNG' : `${ms(s.shutdown.stop.ms)}${s.shutdown.stop.ok ? '' : ' (rejected)'}`) : '–'}.`)
  if (s.fills.length) lines.push(`- Links filled while stalled: BACKPRESSURE surfaced in ${s.fills.filter((f) => f.backpressure).length} of ${s.fills.length} (outcomes: ${s.fills.map((f) => JSON.stringify(f.codes)).join(' ')}).`)
  if (s.repairs.length) lines.push(`- Repairs after faults the bot did not recover from (so the run could go on): ${s.repairs.map((r) => `after #${r.after} ${r.action}${r.outcome ? ` → ${r.outcome}` : ''}`).join('; ')}.`)
  lines.push(`- Processes: ${Object.entries(s.processes.started).map(([r, n]) => `${n} ${r}`).join(', ')} seen; ${s.processes.leaked.length} left after stop.`)
  lines.push('')
  lines.push('Checks:')
  for (const c of s.checks) lines.push(`- [${c.ok ? 'x' : ' '}] ${c.name}: ${c.detail}`)
  for (const [key, title] of [['hung', 'Hung calls'], ['late', 'Late calls'], ['wrongType', 'Wrong error types'], ['unexpectedSuccess', 'Succeeded where an error was due']]) {
    const list = s.calls.samples[key]
    if (!list.length) continue
    lines.push('')
    lines.push(`${title} (first ${list.length}):`)
    for (const x of list) lines.push(`- ${x.source} \`${x.op}\` timeout ${x.timeout} ms, settled ${x.ms === null ? 'never' : `after ${x.ms} ms`}${x.code || x.name ? `: ${x.code ?? ''} ${x.name ?? ''} ${x.message ?? ''}`.trimEnd() : ''}${x.partialErrors?.length ? ` (partial: ${x.partialErrors.join(', ')})` : ''} [during ${x.fault}]`)
  }
  if (s.findings.length) {
    lines.push('')
    lines.push(`Findings (${s.findings.length}):`)
    const seen = new Map()
    for (const f of s.findings) {
      const key = `${f.kind}: ${f.message.replace(/\d+/g, 'N')}`
      if (!seen.has(key)) seen.set(key, { ...f, n: 0 })
      seen.get(key).n++
    }
    for (const f of seen.values()) lines.push(`- [${f.kind}]${f.n > 1 ? ` ×${f.n}` : ''} ${f.message}`)
  }
  if (s.observations.length) {
    lines.push('', `Notes (no check failed): ${s.observations.map((o) => o.message).join('; ')}.`)
  }
  lines.push('')
  lines.push(s.passed ? '**PASS**: every check held.' : `**FAIL**: ${s.checks.filter((c) => !c.ok).length} check(s) failed.`)
  return lines.join('\n')
}

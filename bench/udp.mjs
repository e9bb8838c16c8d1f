// UDP vs TLS under packet loss: one child machine in its own network namespace, reached over a veth
// pair, with iptables dropping a random share of its packets in both directions. The parent (this
// process, root namespace) runs two ShardingManagers: one whose point uses TLS only, one with
// `udp: 'udp4'`, each against its own child manager (4 shards in 2 worker threads, the minimal bot).
// Every cell measures both transports in the same run, in alternating blocks, so drift on a shared
// machine hits both alike.
//
//   npm run bench:udp                               (= npm run build && node bench/udp.mjs; as root)
//   node bench/udp.mjs --cells 0/32,5/32 --scale 0.2 --transports udp --verbose
//   node bench/udp.mjs --prof /tmp/prof              children run with --cpu-prof into that directory
//
// --cells loss%/inFlight,…   --scale f (calls × f)   --blocks n (per transport per cell, default 4)
// --transports tls,udp   --json <file> (rows as JSON)   --verbose (child output, counters per cell)
// Needs root and `ip netns`; installs iptables with apt-get when missing. Otherwise prints why it
// skips and exits 0. The namespace, the veth pair, the child processes and the temp certificates are
// removed on exit, on Ctrl-C and on failure.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { arg, flag, machine, percentile, ratio, table, within } from './lib.mjs'

const NS = 'dsm-udp-child'
const HOST_IF = 'dsmu0'
const NS_IF = 'dsmu1'
const HOST_IP = '10.231.0.1'
const NS_IP = '10.231.0.2'
const PORTS = { tls: 8379, udp: 8380 }
const CHILD_BIN = fileURLToPath(new URL('../dist/bin/discordoo-child.js', import.meta.url))
const BOT = fileURLToPath(new URL('../examples/bots/minimal-bot.mjs', import.meta.url))

const DEFAULT_CELLS = [
  { loss: 0, inFlight: 1, calls: 2000 },
  { loss: 1, inFlight: 1, calls: 1000 },
  { loss: 0, inFlight: 32, calls: 10_000 },
  { loss: 1, inFlight: 32, calls: 10_000 },
  { loss: 5, inFlight: 32, calls: 10_000 },
]

const verbose = flag('verbose')
const say = (s) => console.log(s)
const debug = (s) => verbose && console.log(`  · ${s}`)

// ------------------------------------------------------------------ preconditions

function skip(reason) {
  say(`bench:udp skipped: ${reason}`)
  process.exit(0)
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts })
}

function canRun(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0
}

function preconditions() {
  if (process.platform !== 'linux') skip(`network namespaces need Linux (this is ${process.platform})`)
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) skip('creating a network namespace and iptables rules needs root; run it as root (e.g. sudo npm run bench:udp)')
  if (!canRun('ip', ['netns', 'list'])) skip('`ip netns` is not available (install iproute2)')
  if (!canRun('iptables', ['--version'])) {
    say('iptables is missing; installing it with apt-get …')
    const ok = canRun('apt-get', ['update']) && canRun('apt-get', ['install', '-y', 'iptables'])
    if (!ok || !canRun('iptables', ['--version'])) skip('iptables is missing and `apt-get install -y iptables` failed')
  }
}

// ------------------------------------------------------------------ cleanup (runs on every exit path)

const children = new Set()
let tempDir = null
let netnsCreated = false

function cleanupSync() {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGKILL') // its own process group: the child manager and anything it started
    } catch {}
  }
  children.clear()
  if (netnsCreated) {
    // Deleting the namespace also deletes the veth pair (its peer lives inside).
    spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' })
    spawnSync('ip', ['link', 'del', HOST_IF], { stdio: 'ignore' })
    netnsCreated = false
  }
  if (tempDir) rmSync(tempDir, { recursive: true, force: true })
  tempDir = null
}

process.on('exit', cleanupSync)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    say(`\n${signal}: cleaning up`)
    process.exit(130)
  })
}
process.on('uncaughtException', (err) => {
  console.error(err)
  process.exit(1)
})
process.on('unhandledRejection', (err) => {
  console.error(err)
  process.exit(1)
})

// ------------------------------------------------------------------ network namespace and loss

function setupNetns() {
  // A leftover from a run that was killed with SIGKILL.
  spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' })
  spawnSync('ip', ['link', 'del', HOST_IF], { stdio: 'ignore' })
  try {
    run('ip', ['netns', 'add', NS])
  } catch (err) {
    skip(`cannot create a network namespace: ${String(err.stderr || err.message).trim()}`)
  }
  netnsCreated = true
  run('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF])
  run('ip', ['link', 'set', NS_IF, 'netns', NS])
  run('ip', ['addr', 'add', `${HOST_IP}/24`, 'dev', HOST_IF])
  run('ip', ['link', 'set', HOST_IF, 'up'])
  run('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/24`, 'dev', NS_IF])
  run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up'])
  run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up'])
}

const nsIptables = (...args) => run('ip', ['netns', 'exec', NS, 'iptables', '-w', ...args])

/** Drops `pct` % of the packets the child's interface receives and, independently, of those it sends. */
function setLoss(pct) {
  nsIptables('-F', 'INPUT')
  nsIptables('-F', 'OUTPUT')
  nsIptables('-Z')
  if (pct <= 0) return
  const p = String(pct / 100)
  nsIptables('-A', 'INPUT', '-i', NS_IF, '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP')
  nsIptables('-A', 'OUTPUT', '-o', NS_IF, '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP')
}

/** Packets dropped by the loss rules since the last setLoss, and packets through the host end of the veth. */
function lossCounters() {
  const dropped = (chain) => {
    const line = nsIptables('-L', chain, '-v', '-x', '-n').split('\n').find((l) => /DROP/.test(l))
    return line ? Number(line.trim().split(/\s+/)[0]) : 0
  }
  const stat = (name) => Number(readFileSync(`/sys/class/net/${HOST_IF}/statistics/${name}`, 'utf8'))
  return { droppedIn: dropped('INPUT'), droppedOut: dropped('OUTPUT'), hostTx: stat('tx_packets'), hostRx: stat('rx_packets') }
}

// ------------------------------------------------------------------ certificates and processes

function makeCert(dir, name, ip) {
  const keyPath = join(dir, `${name}.key`)
  const certPath = join(dir, `${name}.crt`)
  run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=IP:${ip}`, '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature',
  ])
  return { keyPath, certPath }
}

/** Starts `discordoo-child` inside the namespace; resolves once it listens. */
function startChild(name, port, certs, udp, profDir) {
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=child-${name}-\${pid}-\${time}.cpuprofile`] : []
  const args = ['netns', 'exec', NS, process.execPath, ...nodeArgs, CHILD_BIN, '--host', NS_IP, '--port', String(port), '--file', BOT,
    '--cert', certs.child.certPath, '--key', certs.child.keyPath, '--trust', certs.parent.certPath, ...(udp ? ['--udp'] : [])]
  // `ip netns exec` execs node in place, so the pid (and its process group, detached) is the child manager's.
  const proc = spawn('ip', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(proc)
  let out = ''
  const onData = (d) => {
    out += d
    if (verbose) for (const l of String(d).split('\n')) if (l) debug(`[child ${name}] ${l}`)
  }
  proc.stdout.setEncoding('utf8').on('data', onData)
  proc.stderr.setEncoding('utf8').on('data', onData)
  return within(
    new Promise((resolve, reject) => {
      proc.stdout.on('data', () => /listening on/.test(out) && resolve(proc))
      proc.on('exit', (code) => reject(new Error(`child ${name} exited with ${code}: ${out}`)))
    }),
    30_000,
    `child ${name} did not start listening within 30 s: ${out}`,
  )
}

/** SIGTERM (the CLI stops its shards and exits, which also writes --cpu-prof files), then SIGKILL. */
async function stopChild(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return children.delete(proc)
  const gone = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGTERM')
  await within(gone, 10_000, 'child did not exit').catch(() => {})
  try {
    process.kill(-proc.pid, 'SIGKILL')
  } catch {}
  children.delete(proc)
}

async function startParent(ShardingManager, transport, certs) {
  const m = new ShardingManager({
    mode: 'machines',
    identify: { windowMs: 200, marginMs: 0, maxConcurrency: 4 },
    machines: {
      me: 'parent',
      points: [
        {
          host: NS_IP,
          port: PORTS[transport],
          ...(transport === 'udp' ? { udp: 'udp4' } : {}),
          childManagerOptions: { mode: 'workers', shards: { from: 0, to: 3 }, shardsPerInstance: 2 },
          tls: { public: certs.parent.certPath, private: certs.parent.keyPath, trustedConnections: [certs.child.certPath] },
        },
      ],
    },
  })
  m.on('error', (e) => say(`[${transport} manager error] ${e?.message ?? e}`))
  m.on('machineError', (e) => say(`[${transport} machineError] ${e.code}: ${e.reason}`))
  let udpUp = null
  if (transport === 'udp') {
    udpUp = new Promise((resolve) => m.on('debug', (d) => /messages now travel over encrypted UDP/.test(d) && resolve()))
    m.on('debug', (d) => /UDP down/.test(d) && say(`[udp] ${d}`))
  }
  await within(m.start(), 60_000, `${transport} manager did not start within 60 s`)
  if (udpUp) await within(udpUp, 10_000, 'UDP did not come up within 10 s')
  return m
}

/** The parent's UdpChannel, reached through internals: diagnostics only (counters), never required. */
function udpChannel(m) {
  try {
    const link = [...m.backend.machines.values()][0]
    return link.client.dgram ?? null
  } catch {
    return null
  }
}

const onUdp = (m) => m.status().machines[0]?.link?.udp === true

// ------------------------------------------------------------------ measurement

const evalFn = (c, ctx) => c.instanceId + ctx.i * 0

async function calls(m, n, inFlight, times, offset) {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(inFlight, n) }, async () => {
      while (next < n) {
        const i = next++
        const t = performance.now()
        const r = await m.broadcastEval(evalFn, { context: { i } })
        times[offset + i] = performance.now() - t
        if (!Array.isArray(r) || r.length !== 2) throw new Error(`unexpected broadcastEval result ${JSON.stringify(r)}`)
      }
    }),
  )
}

const COUNTERS = ['packetsSent', 'packetsReceived', 'bytesSent', 'bytesReceived', 'packetsLost', 'packetsRetransmitted', 'framesRetransmitted', 'messagesSent', 'messagesReceived',
  'acksSent', 'ackOnlySent', 'ptoFired', 'spuriousRetransmits', 'cwndLimitedMs', 'flushes', 'dataFramesSent']

function counterDelta(before, after) {
  if (!before || !after) return null
  const d = {}
  for (const k of COUNTERS) if (typeof after[k] === 'number') d[k] = Math.round((after[k] - (before[k] ?? 0)) * 100) / 100
  d.srttMs = after.srttMs
  d.rttVarMs = after.rttVarMs
  d.cwnd = after.cwnd
  return d
}

/** CPU time (ms) a process (threads included) or one of its threads has used so far, from /proc: { user, sys }. */
function procCpuMs(pid, tid = null) {
  try {
    const f = readFileSync(tid === null ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ')
    return { user: (Number(fields[11]) * 1000) / CLOCK_TICKS, sys: (Number(fields[12]) * 1000) / CLOCK_TICKS }
  } catch {
    return { user: NaN, sys: NaN }
  }
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

async function measureCell(cell, managers, procs, blocks, scale) {
  const n = Math.max(blocks, Math.round(cell.calls * scale))
  setLoss(cell.loss)
  const result = {}
  const times = {}
  for (const t of Object.keys(managers)) times[t] = new Float64Array(n)
  // Warm-up under the cell's conditions, not recorded (JIT, congestion window, RTT estimate).
  for (const [t, m] of Object.entries(managers)) await calls(m, Math.min(200, n), cell.inFlight, new Float64Array(n), 0)
  const chBefore = managers.udp ? udpChannel(managers.udp)?.stats() : null
  const lossBefore = lossCounters()
  const order = Object.keys(managers)
  const per = Math.ceil(n / blocks)
  let udpLeft = false
  const cpu = {}
  for (const t of order) cpu[t] = { parentUser: 0, parentSys: 0, childUser: 0, childSys: 0, childMain: 0 }
  for (let b = 0; b < blocks; b++) {
    const seq = b % 2 === 0 ? order : [...order].reverse()
    for (const t of seq) {
      const count = Math.min(per, n - b * per)
      if (count <= 0) continue
      const p0 = process.cpuUsage()
      const c0 = procCpuMs(procs[t].pid)
      const m0 = procCpuMs(procs[t].pid, procs[t].pid)
      await within(calls(managers[t], count, cell.inFlight, times[t], b * per), 600_000, `${t} block timed out`)
      const p1 = process.cpuUsage(p0)
      const c1 = procCpuMs(procs[t].pid)
      const m1 = procCpuMs(procs[t].pid, procs[t].pid)
      cpu[t].childMain += m1.user + m1.sys - m0.user - m0.sys
      cpu[t].parentUser += p1.user / 1000
      cpu[t].parentSys += p1.system / 1000
      cpu[t].childUser += c1.user - c0.user
      cpu[t].childSys += c1.sys - c0.sys
      if (t === 'udp' && !onUdp(managers.udp)) udpLeft = true
    }
  }
  const loss = lossCounters()
  for (const [t, arr] of Object.entries(times)) {
    const v = Array.from(arr)
    result[t] = {
      p50: percentile(v, 50),
      p99: percentile(v, 99),
      worst: Math.max(...v),
      mean: v.reduce((a, x) => a + x, 0) / v.length,
      // CPU per call in µs: the parent process, and the child process with its worker threads.
      cpu: Object.fromEntries(Object.entries(cpu[t]).map(([k, ms]) => [k, (1000 * ms) / n])),
    }
  }
  return {
    ...cell,
    n,
    result,
    udpLeft,
    dropped: loss.droppedIn + loss.droppedOut,
    // Packets dropped on the way in were counted when the host end sent them; those dropped on the way out never reached it.
    packets: loss.hostTx + loss.hostRx - lossBefore.hostTx - lossBefore.hostRx + loss.droppedOut,
    udpCounters: managers.udp ? counterDelta(chBefore, udpChannel(managers.udp)?.stats()) : null,
  }
}

// ------------------------------------------------------------------ report

const f2 = (v) => (v === undefined || v === null ? '—' : `${v.toFixed(2)}`)
const cellName = (c) => `${c.loss} %, ${c.inFlight} in flight`

function goals(rows) {
  const find = (loss, inFlight) => rows.find((r) => r.loss === loss && r.inFlight === inFlight && r.result.tls && r.result.udp)
  const out = []
  const check = (label, r, key, limit) => {
    if (!r) return
    const v = r.result.udp[key] / r.result.tls[key]
    out.push(`${v <= limit ? 'met ' : 'MISSED'}  ${label}: ${v.toFixed(2)}× (goal ≤ ${limit}×)`)
  }
  check('no loss, 32 in flight, p50', find(0, 32), 'p50', 1.1)
  check('1 % loss, 32 in flight, p99', find(1, 32), 'p99', 1.0)
  check('5 % loss, 32 in flight, p99', find(5, 32), 'p99', 0.5)
  check('5 % loss, 32 in flight, worst call', find(5, 32), 'worst', 0.25)
  return out
}

function report(rows, transports) {
  const both = transports.includes('tls') && transports.includes('udp')
  const head = ['loss', 'in flight', 'calls', ...transports.flatMap((t) => [`${t.toUpperCase()} p50`, `${t.toUpperCase()} p99`, `${t.toUpperCase()} worst`])]
  if (both) head.push('UDP/TLS p50', 'UDP/TLS p99', 'UDP/TLS worst')
  const body = rows.map((r) => {
    const cells = [`${r.loss} %`, String(r.inFlight), r.n.toLocaleString('en-US')]
    for (const t of transports) cells.push(`${f2(r.result[t].p50)} ms`, `${f2(r.result[t].p99)} ms`, `${f2(r.result[t].worst)} ms`)
    if (both) cells.push(ratio(r.result.udp.p50, r.result.tls.p50), ratio(r.result.udp.p99, r.result.tls.p99), ratio(r.result.udp.worst, r.result.tls.worst))
    return cells
  })
  say('\n' + table(head, body))
  say('\nmeasured loss (iptables drops / packets on the veth, both directions, both transports):')
  for (const r of rows) say(`  ${cellName(r)}: ${r.dropped} of ${r.packets} (${((100 * r.dropped) / Math.max(1, r.packets)).toFixed(2)} %)${r.udpLeft ? '  ! UDP fell back to TLS during this cell' : ''}`)
  say('\nCPU per call, µs (user+system; parent process | child process with all its threads (of which its main thread); clock-tick resolution):')
  const cpuOf = (c) => `${Math.round(c.parentUser)}+${Math.round(c.parentSys)} | ${Math.round(c.childUser)}+${Math.round(c.childSys)} (${Math.round(c.childMain)})`
  for (const r of rows) say(`  ${cellName(r)}: ${transports.map((t) => `${t.toUpperCase()} ${cpuOf(r.result[t].cpu)}`).join('   ')}`)
  if (rows.some((r) => r.udpCounters)) {
    say('\nUDP channel counters, parent side, measured blocks only:')
    for (const r of rows) if (r.udpCounters) say(`  ${cellName(r)}: ${Object.entries(r.udpCounters).map(([k, v]) => `${k} ${typeof v === 'number' ? Math.round(v * 100) / 100 : v}`).join(', ')}`)
  }
  if (both) {
    say('\ngoals (UDP / TLS, same run):')
    for (const g of goals(rows)) say(`  ${g}`)
  }
}

// ------------------------------------------------------------------ main

function parseCells(spec) {
  if (!spec) return DEFAULT_CELLS
  return spec.split(',').map((s) => {
    const [loss, inFlight] = s.split('/').map(Number)
    const known = DEFAULT_CELLS.find((c) => c.loss === loss && c.inFlight === inFlight)
    if (!Number.isFinite(loss) || !Number.isInteger(inFlight) || inFlight < 1) throw new Error(`--cells: expected loss%/inFlight, e.g. 1/32 (got ${s})`)
    return { loss, inFlight, calls: known?.calls ?? 10_000 }
  })
}

async function main() {
  const cells = parseCells(arg('cells'))
  const scale = Number(arg('scale', '1'))
  const blocks = Number(arg('blocks', '4'))
  const transports = (arg('transports', 'tls,udp') ?? '').split(',').filter((t) => t === 'tls' || t === 'udp')
  const profDir = arg('prof')
  if (!(scale > 0) || !(blocks >= 1) || transports.length === 0) throw new Error('usage: --scale > 0, --blocks ≥ 1, --transports tls,udp')
  preconditions()
  const { ShardingManager } = await import('../dist/index.js')

  const started = new Date()
  say(`bench:udp · ${machine()} · ${started.toISOString()}`)
  say(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} · nice ${spawnSync('nice', [], { encoding: 'utf8' }).stdout.trim()}`)
  say(`one child machine in netns ${NS} (${NS_IP}, veth to ${HOST_IP}), 4 shards in 2 worker threads (minimal bot); iptables drops the cell's share`)
  say(`of packets in each direction; broadcastEval((c, ctx) => c.instanceId) from the parent; ${blocks} alternating blocks per transport per cell`)

  setupNetns()
  tempDir = mkdtempSync(join(tmpdir(), 'dsm-bench-udp-'))
  const certs = { parent: makeCert(tempDir, 'parent', HOST_IP), child: makeCert(tempDir, 'child', NS_IP) }
  const procs = {}
  for (const t of transports) procs[t] = await startChild(t, PORTS[t], certs, t === 'udp', profDir)
  const managers = {}
  for (const t of transports) managers[t] = await startParent(ShardingManager, t, certs)
  say(`started: ${transports.map((t) => `${t} → ${onUdp(managers[t]) ? 'UDP' : 'TLS'}`).join(', ')}\n`)

  const rows = []
  for (const cell of cells) {
    process.stdout.write(`${cellName(cell)} … `)
    const r = await measureCell(cell, managers, procs, blocks, scale)
    rows.push(r)
    say(transports.map((t) => `${t} p50 ${f2(r.result[t].p50)} p99 ${f2(r.result[t].p99)} worst ${f2(r.result[t].worst)} ms`).join(' | '))
    if (r.udpCounters) debug(JSON.stringify(r.udpCounters))
  }
  setLoss(0)
  report(rows, transports)
  say(`\nload average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} · took ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s`)
  const jsonOut = arg('json')
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2))

  for (const m of Object.values(managers)) await within(m.stop(), 30_000, 'stop timed out').catch((e) => say(e.message))
  for (const p of Object.values(procs)) await stopChild(p)
  cleanupSync()
  process.exit(0)
}

await main()

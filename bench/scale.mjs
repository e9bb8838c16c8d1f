// `npm run bench:scale`: one bot at scale on this machine, and the machine link against raw TLS.
//
// Scale: the gateway simulator (max_concurrency 16, a short identify window), 10 child managers
// (`discordoo-child` processes, WORKERS mode) and a parent in this process run 2,500 shards of a light
// client (bench/light-bot.mjs, no discord.js). Measured: start → all ready against the identify floor
// computed and measured in the same run (a bare client identifying at the legal pace), broadcastEval
// p50/p99 across every instance, the parent's memory per shard, status() size and time, and the time
// of a /metrics scrape.
// Link: messages per second over a machine link (LinkClient → LinkServer) against a raw TLS socket
// carrying length-prefixed messages, both on loopback in this process, 200 B and 64 KiB messages.
//
//   npm run bench:scale            (= npm run build && node --expose-gc bench/scale.mjs)
//   node --expose-gc bench/scale.mjs --only link|scale [--shards 2500] [--children 10] [--window-ms 100]
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { build } from 'esbuild'
import WebSocket from 'ws'
import { machine, ROOT } from './lib.mjs'

const args = process.argv.slice(2)
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? fallback : args[i + 1]
}
const only = arg('only', null)
const SHARDS = Number(arg('shards', 2500))
const CHILDREN = Number(arg('children', 10))
const CONCURRENCY = 16
const WINDOW_MS = Number(arg('window-ms', 100))
const MARGIN_MS = 20
const PER_INSTANCE = 50
const LIMIT_MS = 15 * 60_000

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 3 : 1)} ms`)
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`
const started = []

/** src/net and src/metrics are not in the package's dist; bundle them for this run. */
async function internals() {
  const outdir = join(ROOT, 'node_modules/.cache/discordoo-bench')
  await build({ entryPoints: { net: join(ROOT, 'src/net/index.ts'), metrics: join(ROOT, 'src/metrics/index.ts') }, bundle: true, platform: 'node', format: 'esm', outdir, outExtension: { '.js': '.mjs' }, packages: 'external', logLevel: 'error' })
  return { net: await import(join(outdir, 'net.mjs')), metrics: await import(join(outdir, 'metrics.mjs')) }
}

/** Starts a process and resolves once `pattern` shows in its output (with the match). */
function startProcess(file, argv, pattern, env = process.env) {
  const child = spawn(process.execPath, [file, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env })
  started.push(child)
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d
      const m = out.match(pattern)
      if (m) resolve({ child, match: m, output: () => out })
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}: ${out}`)))
  })
}

function makeCerts(dir, names) {
  const out = spawn('sh', [join(ROOT, 'examples/deploy/make-certs.sh'), dir, ...names], { stdio: 'ignore' })
  return once(out, 'exit')
}

// ---------------------------------------------------------------------------------------------
// Link: messages/s over a machine link against a raw TLS socket
// ---------------------------------------------------------------------------------------------

async function linkRun(net, certs, size, count) {
  const server = new net.LinkServer({ host: '127.0.0.1', port: 0, nodeId: 'bench-child', tls: { cert: certs('child-0.pem'), key: certs('child-0.key'), trust: [certs('parent.pem')] } })
  const { port } = await server.listen()
  const client = new net.LinkClient({ host: '127.0.0.1', port, nodeId: 'bench-parent', tls: { cert: certs('parent.pem'), key: certs('parent.key'), trust: [certs('child-0.pem')] } })
  client.connect()
  await once(client, 'up')
  const payload = new Uint8Array(size).fill(7)
  let received = 0
  const done = new Promise((resolve) => server.on('message', () => ++received === count && resolve()))
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    for (;;) {
      try {
        client.send(payload)
        break
      } catch (err) {
        if (err.code !== 'BACKPRESSURE') throw err
        await once(client, 'drain')
      }
    }
    // Let the link write and acknowledge: a producer that never yields only fills the queue.
    if (i % 256 === 255) await new Promise(setImmediate)
  }
  await done
  const ms = performance.now() - t0
  await client.close()
  await server.close()
  return ms
}

async function rawTlsRun(certs, size, count) {
  const read = (f) => readFileSync(certs(f))
  const server = tls.createServer({ cert: read('child-0.pem'), key: read('child-0.key'), ca: [read('parent.pem')], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' })
  let received = 0
  let resolveDone
  const done = new Promise((r) => (resolveDone = r))
  server.on('secureConnection', (sock) => {
    let buf = Buffer.alloc(0)
    sock.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      let off = 0
      while (buf.length - off >= 4) {
        const len = buf.readUInt32BE(off)
        if (buf.length - off - 4 < len) break
        off += 4 + len
        if (++received === count) resolveDone()
      }
      buf = buf.subarray(off)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const sock = tls.connect({ host: '127.0.0.1', port: server.address().port, cert: read('parent.pem'), key: read('parent.key'), ca: [read('child-0.pem')], checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' })
  await once(sock, 'secureConnect')
  const frame = Buffer.alloc(4 + size, 7)
  frame.writeUInt32BE(size, 0)
  const t0 = performance.now()
  for (let i = 0; i < count; i++) if (!sock.write(frame)) await once(sock, 'drain')
  await done
  const ms = performance.now() - t0
  sock.destroy()
  server.close()
  return ms
}

async function linkBench(net, certs) {
  const rows = []
  for (const [size, count] of [
    [200, 200_000],
    [65_536, 4_000],
  ]) {
    // Alternate and keep the best of three of each, as the machine is shared.
    const link = []
    const raw = []
    for (let round = 0; round < 3; round++) {
      raw.push(await rawTlsRun(certs, size, count))
      link.push(await linkRun(net, certs, size, count))
    }
    const best = (xs) => Math.min(...xs)
    rows.push({ size, count, linkMsgs: count / (best(link) / 1000), rawMsgs: count / (best(raw) / 1000), linkRuns: link, rawRuns: raw })
  }
  return rows
}

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

/** The measured floor: a bare client identifying every shard at exactly the legal pace, nothing else. */
async function floorRole() {
  const gateway = arg('gateway')
  const token = arg('token')
  const shards = Number(arg('shards'))
  const concurrency = Number(arg('concurrency'))
  const windowMs = Number(arg('window-ms'))
  const nextAt = new Array(concurrency).fill(0)
  const t0 = performance.now()
  let ready = 0
  const sockets = []
  await new Promise((resolve) => {
    for (let id = 0; id < shards; id++) {
      const ws = new WebSocket(`${gateway}/?v=10&encoding=json`)
      sockets.push(ws)
      ws.on('message', (raw) => {
        const p = JSON.parse(raw.toString())
        if (p.op === 10) {
          const key = id % concurrency
          const at = Math.max(performance.now(), nextAt[key])
          nextAt[key] = at + windowMs
          setTimeout(() => ws.send(JSON.stringify({ op: 2, d: { token, intents: 1, shard: [id, shards], properties: { os: 'linux', browser: 'floor', device: 'floor' } } })), at - performance.now())
        } else if (p.op === 0 && p.t === 'READY' && ++ready === shards) resolve()
      })
    }
  })
  const ms = performance.now() - t0
  for (const ws of sockets) ws.terminate()
  process.stdout.write(`@@floor ${ms}\n`)
  process.exit(0)
}

async function scaleBench(metricsModule, certDir) {
  const { ShardingManager } = await import(join(ROOT, 'dist/index.js'))
  const token = `scale-${Date.now()}`
  const sim = await startProcess(join(ROOT, 'dist/bin/discordoo.js'), ['simulator', '--port', '0', '--token', token, '--max-concurrency', String(CONCURRENCY), '--window-ms', String(WINDOW_MS), '--guilds', String(SHARDS), '--shards', String(SHARDS), '--session-limit', '100000', '--heartbeat-interval-ms', '41250'], /REST:\s+(http:\/\/\S+\/api)/)
  const restUrl = sim.match[1]
  const gateway = sim.output().match(/Gateway:\s+(ws:\/\/\S+)/)[1]

  // The floor, measured: the same simulator, the same shards, no manager.
  const floorRun = await startProcess(new URL(import.meta.url).pathname, ['--role', 'floor', '--gateway', gateway, '--token', token, '--shards', String(SHARDS), '--concurrency', String(CONCURRENCY), '--window-ms', String(WINDOW_MS)], /@@floor ([\d.]+)/)
  const floorMeasuredMs = Number(floorRun.match[1])
  await once(floorRun.child, 'exit')
  await sleep(WINDOW_MS * 2)

  const cert = (f) => join(certDir, f)
  const children = await Promise.all(
    Array.from({ length: CHILDREN }, (_, i) =>
      startProcess(join(ROOT, 'dist/bin/discordoo-child.js'), ['--host', '127.0.0.1', '--port', '0', '--file', join(ROOT, 'bench/light-bot.mjs'), '--cert', cert(`child-${i}.pem`), '--key', cert(`child-${i}.key`), '--trust', cert('parent.pem')], /listening on 127\.0\.0\.1:(\d+)/),
    ),
  )
  global.gc?.()
  const before = process.memoryUsage()
  const perChild = Math.ceil(SHARDS / CHILDREN)
  const manager = new ShardingManager({
    mode: 'machines',
    token,
    api: restUrl,
    env: { BENCH_GATEWAY: gateway, BENCH_TOKEN: token },
    identify: { windowMs: WINDOW_MS, marginMs: MARGIN_MS },
    timeouts: { ready: 300_000 },
    machines: {
      me: 'parent',
      tls: { public: cert('parent.pem'), private: cert('parent.key'), trustedConnections: children.map((_, i) => cert(`child-${i}.pem`)) },
      points: children.map((c, i) => ({
        host: '127.0.0.1',
        port: Number(c.match[1]),
        childManagerOptions: { mode: 'workers', shards: { from: i * perChild, to: Math.min(SHARDS, (i + 1) * perChild) - 1 }, shardsPerInstance: PER_INSTANCE },
      })),
    },
  })
  const errors = []
  manager.on('error', (e) => errors.push(e.message))
  let deaths = 0
  manager.on('instanceDeath', () => deaths++)
  const t0 = performance.now()
  // When the first and the last identify turns were granted: spawning and connecting come before the first.
  let firstGrantMs = null
  let lastGrantMs = null
  let lastGranted = 0
  const waiting = []
  const sampler = setInterval(() => {
    const id = manager.status().identify
    const granted = id?.granted ?? 0
    if (granted > 0 && granted < SHARDS) waiting.push(id.waiting)
    if (granted > 0 && firstGrantMs === null) firstGrantMs = performance.now() - t0
    if (granted !== lastGranted) lastGrantMs = performance.now() - t0
    lastGranted = granted
  }, 50)
  await manager.start()
  const readyMs = performance.now() - t0
  clearInterval(sampler)
  const deathsBeforeReady = deaths
  lastGranted = manager.status().identify?.granted ?? lastGranted

  // broadcastEval across every instance.
  const evalMs = []
  let instances = 0
  for (let i = 0; i < 220; i++) {
    const t = performance.now()
    const values = await manager.broadcastEval((c, ctx) => ctx.i, { context: { i } })
    if (i >= 20) evalMs.push(performance.now() - t)
    instances = values.length
  }
  evalMs.sort((a, b) => a - b)

  // The parent's memory, once every machine has reported.
  await sleep(2000)
  global.gc?.()
  const after = process.memoryUsage()

  // status(): time and size.
  const statusMs = []
  let statusBytes = 0
  for (let i = 0; i < 50; i++) {
    const t = performance.now()
    const s = manager.status()
    statusBytes = JSON.stringify(s).length
    statusMs.push(performance.now() - t)
  }
  statusMs.sort((a, b) => a - b)

  // A /metrics scrape over HTTP.
  const recorder = new metricsModule.MetricsRecorder()
  const server = await metricsModule.createMetricsServer({ status: () => manager.status(), counters: () => recorder.counters() }, { port: 0 })
  const scrapeMs = []
  let scrapeBytes = 0
  for (let i = 0; i < 30; i++) {
    const t = performance.now()
    const body = await (await fetch(`${server.url}/metrics`)).text()
    scrapeMs.push(performance.now() - t)
    scrapeBytes = body.length
  }
  scrapeMs.sort((a, b) => a - b)
  await server.close()

  const stopT = performance.now()
  await manager.stop()
  const stopMs = performance.now() - stopT
  const s = manager.status()
  for (const c of children) c.child.kill('SIGTERM')
  await Promise.all(children.map((c) => (c.child.exitCode === null ? once(c.child, 'exit') : null)))
  sim.child.kill('SIGTERM')
  await once(sim.child, 'exit')

  const floorMs = (Math.ceil(SHARDS / CONCURRENCY) - 1) * WINDOW_MS
  return {
    shards: SHARDS,
    children: CHILDREN,
    instances,
    machines: s.machines.length,
    readyMs,
    floorMs,
    floorWithMarginMs: (Math.ceil(SHARDS / CONCURRENCY) - 1) * (WINDOW_MS + MARGIN_MS),
    floorMeasuredMs,
    evalP50: pct(evalMs, 50),
    evalP99: pct(evalMs, 99),
    rss: after.rss,
    rssBefore: before.rss,
    heapDelta: after.heapUsed - before.heapUsed,
    statusP50: pct(statusMs, 50),
    statusBytes,
    scrapeP50: pct(scrapeMs, 50),
    scrapeBytes,
    stopMs,
    deaths: deathsBeforeReady,
    errors: errors.slice(0, 5),
    firstGrantMs,
    lastGrantMs,
    granted: lastGranted,
    meanWaiting: waiting.reduce((a, b) => a + b, 0) / Math.max(1, waiting.length),
    load: (await import('node:os')).loadavg()[0],
  }
}

async function main() {
  const limit = setTimeout(() => {
    console.error(`bench:scale: over ${LIMIT_MS / 60_000} min; stopping`)
    for (const c of started) c.kill('SIGKILL')
    process.exit(1)
  }, LIMIT_MS)
  limit.unref()
  const certDir = mkdtempSync(join(tmpdir(), 'dsm-scale-'))
  try {
    await makeCerts(certDir, ['parent', ...Array.from({ length: CHILDREN }, (_, i) => `child-${i}`)])
    const { net, metrics } = await internals()
    console.log(`machine: ${machine()}`)
    if (only !== 'link') {
      const r = await scaleBench(metrics, certDir)
      console.log(`\nscale: ${r.shards} shards, ${r.children} child managers (WORKERS, ${PER_INSTANCE} shards per instance: ${r.instances} instances), max_concurrency ${CONCURRENCY}, window ${WINDOW_MS} ms + ${MARGIN_MS} ms margin`)
      console.log(`  start → all ready        ${fmt(r.readyMs)}`)
      console.log(`  floor, computed         ${fmt(r.floorMs)} ((ceil(${r.shards}/${CONCURRENCY})-1) × ${WINDOW_MS} ms) → ${(r.readyMs / r.floorMs).toFixed(2)}×; with the margin ${fmt(r.floorWithMarginMs)} → ${(r.readyMs / r.floorWithMarginMs).toFixed(2)}×`)
      console.log(`  identify turns          first at ${fmt(r.firstGrantMs)}, last at ${fmt(r.lastGrantMs)} (${r.granted} granted): ${fmt(r.lastGrantMs - r.firstGrantMs)} of granting against the floor's ${fmt(r.floorMs)} (${((r.lastGrantMs - r.firstGrantMs) / r.floorMs).toFixed(2)}×; ${((r.lastGrantMs - r.firstGrantMs) / r.floorWithMarginMs).toFixed(2)}× with the margin)`)
      console.log(`  identify queue          ${r.meanWaiting.toFixed(1)} shards waiting on average while granting (at or above ${CONCURRENCY}, the window sets the pace; below, the clients do)`)
      console.log(`  floor, measured         ${fmt(r.floorMeasuredMs)} (a bare client, same simulator, no manager) → ${(r.readyMs / r.floorMeasuredMs).toFixed(2)}×`)
      console.log(`  broadcastEval, ${r.instances} inst.  p50 ${fmt(r.evalP50)} · p99 ${fmt(r.evalP99)} (200 calls)`)
      console.log(`  parent memory           heap +${mib(r.heapDelta)} after gc (${((r.heapDelta / r.shards) / 1024).toFixed(1)} KiB per shard) · rss ${mib(r.rssBefore)} before the manager, ${mib(r.rss)} at all-ready (this process also runs the bench)`)
      console.log(`  status()                ${fmt(r.statusP50)} p50 (with JSON.stringify) · ${(r.statusBytes / 1024).toFixed(0)} KiB of JSON`)
      console.log(`  /metrics scrape         ${fmt(r.scrapeP50)} p50 · ${(r.scrapeBytes / 1024).toFixed(0)} KiB`)
      console.log(`  stop (every child)      ${fmt(r.stopMs)}`)
      console.log(`  load average at the end  ${r.load.toFixed(1)} (2 cores, shared)`)
      console.log(`  instance deaths before all-ready: ${r.deaths}${r.errors.length > 0 ? ` (${r.errors.join('; ')})` : ''}`)
    }
    if (only !== 'scale') {
      const rows = await linkBench(net, (f) => join(certDir, f))
      console.log('\nlink: messages per second, best of 3 (runs in ms)')
      for (const r of rows) {
        console.log(
          `  ${String(r.size).padStart(6)} B × ${r.count}: machine link ${Math.round(r.linkMsgs).toLocaleString('en')} msg/s (${((r.linkMsgs * r.size) / 2 ** 20).toFixed(1)} MiB/s) · raw TLS ${Math.round(r.rawMsgs).toLocaleString('en')} msg/s (${((r.rawMsgs * r.size) / 2 ** 20).toFixed(1)} MiB/s) · link / raw ${(r.linkMsgs / r.rawMsgs).toFixed(2)}×`,
        )
        console.log(`           link ${r.linkRuns.map((x) => x.toFixed(0)).join(' / ')} · raw ${r.rawRuns.map((x) => x.toFixed(0)).join(' / ')}`)
      }
    }
  } finally {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL')
    rmSync(certDir, { recursive: true, force: true })
  }
  process.exit(0)
}

if (arg('role') === 'floor') floorRole()
else main().catch((err) => {
  console.error(err)
  for (const c of started) c.kill('SIGKILL')
  process.exit(1)
})

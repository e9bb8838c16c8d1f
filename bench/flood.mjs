#!/usr/bin/env node
// A child's listener under a flood of idle sockets from the real parent's own address (127.0.0.1).
//
//   node bench/flood.mjs                     # LinkServer from src/net (bundled with esbuild), 3000 sockets
//   node bench/flood.mjs --target cli        # the real child CLI, node dist/bin/discordoo-child.js (npm run build first)
//   node bench/flood.mjs --src /work/main    # LinkServer (or with --target cli, the CLI) of another checkout
//   node bench/flood.mjs --sockets 5000
//   node bench/flood.mjs --fds 1024          # the listener gets a descriptor limit (ulimit -n) of 1024, a common default
//
// Measures, in the same run: how long an idle socket that never starts TLS stays open; the real
// parent's connect time (LinkClient connect() to 'up') without a flood, during it and while the flood
// holds its sockets; the listener's RSS (/proc) before, at its peak and after; how many flood sockets
// the listener keeps. The listener runs in its own process so RSS is its own.
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { getHeapStatistics } from 'node:v8'
import { ROOT, machine, sleep } from './lib.mjs'

const args = process.argv.slice(2)
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : def
}

/** Bundles src/net of `srcRoot` into one ESM file inside this checkout's node_modules (so msgpackr resolves). */
async function bundleNet(srcRoot) {
  const { build } = await import('esbuild')
  const outfile = join(ROOT, 'node_modules/.cache/dsm-bench', `net-${Buffer.from(srcRoot).toString('hex').slice(-16)}.mjs`)
  mkdirSync(join(ROOT, 'node_modules/.cache/dsm-bench'), { recursive: true })
  await build({ entryPoints: [join(srcRoot, 'src/net/index.ts')], bundle: true, platform: 'node', format: 'esm', outfile, packages: 'external', logLevel: 'error' })
  return outfile
}

function makeCerts(dir) {
  for (const name of ['child', 'parent']) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`),
      '-days', '2', '-subj', `/CN=bench-${name}`, '-addext', 'extendedKeyUsage=serverAuth,clientAuth', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  }
}

/** The listening side when --target linkserver: a LinkServer with its default limits. */
async function listener(bundle, dir) {
  const { LinkServer } = await import(bundle)
  const server = new LinkServer({ nodeId: 'bench-child', host: '127.0.0.1', port: 0, tls: { cert: join(dir, 'child.crt'), key: join(dir, 'child.key'), trust: [join(dir, 'parent.crt')] } })
  let refused = 0
  let summaries = 0
  server.on('refused', (e) => {
    refused++
    if (e.suppressed !== undefined) summaries++
  })
  const { port } = await server.listen()
  process.on('message', (m) => {
    if (m === 'counts') {
      globalThis.gc?.() // heapUsed after a full collection: what the listener really retains
      // v8's own figure: process.memoryUsage() opens /proc/self/statm, which fails when descriptors run out
      process.send({ counts: server.connectionCounts?.() ?? null, refused, summaries, heapUsedMiB: +(getHeapStatistics().used_heap_size / 2 ** 20).toFixed(1) })
    }
    if (m === 'exit') server.close().then(() => process.exit(0))
  })
  process.send({ port })
}

function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN // the listener is gone
  }
}

/** How many descriptors the process holds. */
function fds(pid) {
  try {
    return execFileSync('ls', [`/proc/${pid}/fd`]).toString().split('\n').filter(Boolean).length
  } catch {
    return NaN
  }
}

const tally = (codes) => Object.entries(codes.reduce((m, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }), {})).map(([c, n]) => `${c} ×${n}`).join(', ') || 'none'
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : 'not within 30 s')

/** Spawns node with `argv`, under `ulimit -n fds` when given (soft and hard, so Node cannot raise it). */
function spawnNode(argv, fdsLimit, stdio, execArgv = []) {
  if (!fdsLimit) return spawn(process.execPath, [...execArgv, ...argv], { stdio })
  const quoted = [process.execPath, ...execArgv, ...argv].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  return spawn('/bin/sh', ['-c', `ulimit -n ${fdsLimit} && exec ${quoted}`], { stdio })
}

async function startTarget(target, certDir, bundle, src, fdsLimit) {
  if (target === 'cli') {
    const bin = join(src, 'dist/bin/discordoo-child.js')
    const port = 20000 + Math.floor(Math.random() * 20000)
    const child = spawnNode([bin, '--host', '127.0.0.1', '--port', String(port), '--file', join(ROOT, 'examples/bots/minimal-bot.mjs'),
      '--cert', join(certDir, 'child.crt'), '--key', join(certDir, 'child.key'), '--trust', join(certDir, 'parent.crt')], fdsLimit, ['ignore', 'pipe', 'pipe'])
    let out = ''
    let lines = 0
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d
      lines += d.split('\n').length - 1
    })
    child.stderr.setEncoding('utf8').on('data', (d) => (out += d))
    const t0 = Date.now()
    while (!/listening/i.test(out)) {
      if (child.exitCode !== null || Date.now() - t0 > 15_000) throw new Error(`child CLI did not start: ${out}`)
      await sleep(50)
    }
    return { pid: child.pid, port, counts: async () => ({ logLines: lines }), stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM') }) }
  }
  const child = spawnNode([fileURLToPath(import.meta.url), '--listener', bundle, certDir], fdsLimit, ['ignore', 'inherit', 'inherit', 'ipc'], ['--expose-gc'])
  const { port } = await new Promise((resolve) => child.once('message', resolve))
  return {
    pid: child.pid,
    port,
    counts: () => new Promise((resolve) => { child.once('message', resolve); child.send('counts') }),
    stop: () => new Promise((r) => { child.once('exit', r); child.send('exit') }),
  }
}

async function parentConnect(LinkClient, certDir, port) {
  const client = new LinkClient({ nodeId: 'bench-parent', host: '127.0.0.1', port, tls: { cert: join(certDir, 'parent.crt'), key: join(certDir, 'parent.key'), trust: [join(certDir, 'child.crt')] }, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } })
  const refusals = []
  client.on('refused', (e) => refusals.push(e.code))
  client.on('reconnecting', (e) => refusals.push(e.error.code))
  client.on('error', () => {})
  const t0 = performance.now()
  const up = await new Promise((resolve) => {
    const limit = setTimeout(() => resolve(false), 30_000)
    client.once('up', () => { clearTimeout(limit); resolve(true) })
    client.connect()
  })
  const took = up ? performance.now() - t0 : Infinity
  await client.close()
  return { took, refusals }
}

function idleSocket(port) {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' })
    const rec = { s, openedAt: 0, closedAt: 0, failed: false }
    s.on('connect', () => { rec.openedAt = performance.now(); resolve(rec) })
    s.on('error', () => { rec.failed = true; if (!rec.openedAt) resolve(rec) })
    s.on('close', () => { rec.closedAt = performance.now() })
  })
}

async function main() {
  const target = flag('target', 'linkserver')
  const sockets = Number(flag('sockets', '3000'))
  const src = flag('src', ROOT)
  const certDir = mkdtempSync(join(tmpdir(), 'dsm-flood-'))
  makeCerts(certDir)
  const bundle = await bundleNet(src)
  const { LinkClient } = await import(await bundleNet(ROOT))
  const fdsLimit = flag('fds', '')
  const t = await startTarget(target, certDir, bundle, src, fdsLimit)
  console.log(`flood bench: target ${target} from ${src}, ${sockets} idle sockets from 127.0.0.1${fdsLimit ? `, listener ulimit -n ${fdsLimit}` : ''}`)
  console.log(`machine: ${machine()}; shared with other work, so timings are noisy`)
  try {
    await sleep(300)
    const rssBefore = rssMiB(t.pid)
    const fdsBefore = fds(t.pid)

    // 1. An idle socket that never starts TLS: how long until the child closes it?
    const idle = await Promise.all(Array.from({ length: 5 }, () => idleSocket(t.port)))
    const idleDeadline = performance.now() + 20_000
    while (idle.some((r) => !r.closedAt) && performance.now() < idleDeadline) await sleep(50)
    const idleClose = idle.filter((r) => r.closedAt).map((r) => r.closedAt - r.openedAt)
    for (const r of idle) r.s.destroy()

    // 2. The parent's connect time without a flood (the peer the flood figures are compared with).
    const base = []
    for (let i = 0; i < 5; i++) base.push((await parentConnect(LinkClient, certDir, t.port)).took)

    // 3. The flood: `sockets` idle connections, 200 in flight at a time; the parent connects halfway through.
    let peak = rssBefore
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(t.pid))), 100)
    const flood = []
    let during = null
    const floodStart = performance.now()
    for (let i = 0; i < sockets; i += 200) {
      const batch = await Promise.all(Array.from({ length: Math.min(200, sockets - i) }, () => idleSocket(t.port)))
      flood.push(...batch)
      if (during === null && flood.length >= sockets / 2) during = parentConnect(LinkClient, certDir, t.port)
    }
    const floodMs = performance.now() - floodStart
    const duringResult = await during
    await sleep(500)
    const stillOpen = flood.filter((r) => !r.closedAt && !r.failed).length
    const failed = flood.filter((r) => r.failed).length
    const fdsHeld = fds(t.pid)
    // 4. While the flood holds whatever sockets the child left it.
    const held = []
    for (let i = 0; i < 5; i++) held.push((await parentConnect(LinkClient, certDir, t.port)).took)
    const rssHeld = rssMiB(t.pid)
    const countsHeld = await t.counts()
    for (const r of flood) r.s.destroy()
    await sleep(2000)
    clearInterval(sampler)
    const rssAfter = rssMiB(t.pid)
    const countsAfter = await t.counts()

    const b = median(base)
    console.log('')
    console.log(idleClose.length === 0
      ? 'idle pre-TLS socket closed after:        never (0/5 closed within 20 s)'
      : `idle pre-TLS socket closed after:        median ${ms(median(idleClose))} (min ${ms(Math.min(...idleClose))}, max ${ms(Math.max(...idleClose))}; ${idleClose.length}/5 closed within 20 s)`)
    console.log(`parent connect, no flood:                median ${ms(b)} (${base.map((x) => x.toFixed(0)).join(', ')})`)
    console.log(`parent connect, during the flood:        ${ms(duringResult.took)} = ${(duringResult.took / b).toFixed(1)}× no flood; failed attempts first: ${tally(duringResult.refusals)}`)
    console.log(`parent connect, flood sockets held:      median ${ms(median(held))} = ${(median(held) / b).toFixed(1)}× no flood (${held.map((x) => x.toFixed(0)).join(', ')})`)
    console.log(`flood: ${sockets} sockets opened in ${ms(floodMs)}, ${failed} failed to connect; still open after it: ${stillOpen}; listener descriptors ${fdsBefore} before, ${fdsHeld} with the flood held`)
    console.log(`listener with the flood held: ${JSON.stringify(countsHeld)}; 2 s after: ${JSON.stringify(countsAfter)}`)
    console.log(`listener RSS: before ${rssBefore.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB (${(peak / rssBefore).toFixed(2)}×), flood held ${rssHeld.toFixed(1)} MiB, 2 s after ${rssAfter.toFixed(1)} MiB (${(rssAfter / rssBefore).toFixed(2)}×)`)
  } finally {
    await t.stop()
    rmSync(certDir, { recursive: true, force: true })
  }
}

if (args[0] === '--listener') await listener(args[1], args[2])
else await main()

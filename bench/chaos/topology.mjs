// Sets up what a chaos run runs against, all on loopback: certificates (openssl, in a temp dir), the
// gateway simulator (in this process), one TCP proxy and one `discordoo-child` process per machine,
// and the parent manager's options. The parent itself runs in its own process (parent.mjs).
import { execFileSync, spawn } from 'node:child_process'
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GatewaySimulator } from '../../dist/simulator.js'
import { ChaosProxy } from './proxy.mjs'

export const CHILD_BIN = fileURLToPath(new URL('../../dist/bin/discordoo-child.js', import.meta.url))
export const CHAOS_BOT = fileURLToPath(new URL('../../test/fixtures/chaos-bot.mjs', import.meta.url))

/** Link timings short enough that a cut is noticed and healed in well under a second. */
export const LINK = { heartbeatInterval: 200, heartbeatTimeout: 1500, reconnectDelay: 100, maxReconnectDelay: 400 }

export function makeCert(dir, name) {
  const certPath = join(dir, `${name}.crt`)
  const keyPath = join(dir, `${name}.key`)
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-keyout', keyPath, '-out', certPath,
      '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'extendedKeyUsage=serverAuth,clientAuth'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  return { certPath, keyPath }
}

export async function freePort() {
  const server = createServer()
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((r) => server.close(r))
  return port
}

/** One `discordoo-child` process (restartable on the same port, certificate and environment). */
export class ChildMachine {
  constructor({ id, index, port, cert, trust, env, logFile, registry, verbose, file = CHAOS_BOT }) {
    Object.assign(this, { id, index, port, cert, trust, env, logFile, registry, verbose, file })
    this.proc = null
    this.restarts = 0
  }

  get pid() {
    return this.proc?.pid ?? null
  }

  get running() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null
  }

  /** Starts the process and resolves once it listens (rejects if it exits first or takes over 20 s). */
  async start() {
    const args = ['--host', '127.0.0.1', '--port', String(this.port), '--file', this.file, '--cert', this.cert.certPath, '--key', this.cert.keyPath, '--trust', this.trust]
    const proc = spawn(process.execPath, [CHILD_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } })
    this.proc = proc
    this.registry?.add(proc.pid, 'child manager', { machine: this.id })
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
    let out = ''
    const onData = (d) => {
      out += d
      appendFileSync(this.logFile, d)
      if (this.verbose) process.stdout.write(String(d).replace(/^(?=.)/gm, `    [${this.id}] `))
    }
    proc.stdout.setEncoding('utf8').on('data', onData)
    proc.stderr.setEncoding('utf8').on('data', onData)
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`discordoo-child ${this.id} did not listen within 20 s: ${out.slice(-500)}`)), 20_000)
      const check = () => {
        if (/listening on/.test(out)) {
          clearTimeout(timer)
          resolve()
        }
      }
      proc.stdout.on('data', check)
      proc.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`discordoo-child ${this.id} exited (${code ?? signal}) before listening: ${out.slice(-500)}`))
      })
    })
  }

  /** Sends `signal` and resolves with how it exited (or null if it is still running after `ms`). */
  async kill(signal, ms = 15_000) {
    if (!this.running) return null
    const exited = this.exited
    this.proc.kill(signal)
    return Promise.race([exited, new Promise((r) => setTimeout(() => r(null), ms))])
  }
}

/**
 * Builds the topology. Every resource it creates is registered on `owned` (for cleanup) as soon as it
 * exists, so a failure half-way still cleans up everything.
 */
export async function buildTopology(config, registry, owned, log) {
  const dir = mkdtempSync(join(tmpdir(), 'dsm-chaos-'))
  owned.dir = dir
  const resultsDir = join(dir, 'results')
  mkdirSync(resultsDir)
  const parentCert = makeCert(dir, 'parent')

  const token = 'chaos-token'
  const sim = new GatewaySimulator({
    token,
    guilds: config.totalShards * 10,
    maxConcurrency: config.maxConcurrency,
    windowMs: config.windowMs,
    heartbeatIntervalMs: 5000,
    sessionStartLimit: { total: 1_000_000, remaining: 1_000_000 },
  })
  owned.sim = sim
  const { restUrl } = await sim.start()

  const machines = []
  owned.machines = machines
  owned.proxies = []
  for (let i = 0; i < config.machines; i++) {
    const id = `m${i}`
    const port = await freePort()
    const proxy = new ChaosProxy({ host: '127.0.0.1', port })
    owned.proxies.push(proxy)
    await proxy.listen()
    const machine = new ChildMachine({
      id,
      index: i,
      port,
      cert: makeCert(dir, `child${i}`),
      trust: parentCert.certPath,
      env: {
        CHAOS_RESULTS: resultsDir,
        CHAOS_API: restUrl,
        DISCORD_TOKEN: token,
        CHAOS_INTERVAL: String(config.botInterval),
        CHAOS_TIMEOUT: `${config.timeoutMin}-${config.timeoutMax}`,
      },
      logFile: join(dir, `${id}.log`),
      registry,
      verbose: config.verbose,
    })
    machine.proxy = proxy
    machine.from = i * config.shardsPerMachine
    machine.to = machine.from + config.shardsPerMachine - 1
    machine.instanceIds = Array.from({ length: config.instancesPerMachine }, (_, k) => i * config.instancesPerMachine + k)
    machines.push(machine)
    await machine.start()
  }

  const tls = { public: parentCert.certPath, private: parentCert.keyPath, trustedConnections: machines.map((m) => m.cert.certPath) }
  const parentOptions = {
    mode: 'machines',
    token,
    api: restUrl,
    // The default margin: it covers the time between a grant and the IDENTIFY, which grows when instances are busy.
    identify: { windowMs: config.windowMs, marginMs: 250, maxConcurrency: config.maxConcurrency },
    // Hundreds of deliberate kills: the restart budget must not be what stops recovery.
    restarts: { max: 100_000, interval: 60_000, baseDelay: 50, maxDelay: 300 },
    timeouts: { heartbeatInterval: 500, heartbeat: 5000, kill: 2000, ready: 20_000, request: config.timeoutMax },
    machines: {
      me: 'parent',
      link: LINK,
      points: machines.map((m) => ({
        id: m.id,
        host: '127.0.0.1',
        port: m.proxy.port,
        childManagerOptions: { mode: 'processes', shards: { from: m.from, to: m.to }, shardsPerInstance: config.shardsPerInstance },
        tls,
      })),
    },
  }
  const optionsFile = join(dir, 'parent.json')
  writeFileSync(optionsFile, JSON.stringify(parentOptions, null, 2))
  log(`topology: simulator ${restUrl}, ${machines.length} child managers (${machines.map((m) => `${m.id} :${m.port} via proxy :${m.proxy.port}`).join(', ')}), run dir ${dir}`)
  return { dir, resultsDir, sim, machines, optionsFile, restUrl }
}

export function removeRunDir(dir) {
  if (dir) rmSync(dir, { recursive: true, force: true })
}

import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ShardingManager } from '../../dist/index.js'
import { makeCert, makeTempDir, removeDir, type MadeCert } from './certs.js'
import { fixture } from './manager.js'
import { freePort } from './ports.js'

export const CHILD_BIN = fileURLToPath(new URL('../../dist/bin/discordoo-child.js', import.meta.url))

export interface Certs {
  dir: string
  parent: MadeCert
  children: MadeCert[]
  stranger: MadeCert
}

export function makeCerts(children = 3): Certs {
  const dir = makeTempDir()
  return {
    dir,
    parent: makeCert(dir, 'parent'),
    children: Array.from({ length: children }, (_, i) => makeCert(dir, `child${i}`)),
    stranger: makeCert(dir, 'stranger'),
  }
}

export function dropCerts(c: Certs): void {
  removeDir(c.dir)
}

const live = new Set<ShardingManager>()
const parents = new Set<ShardingManager>()
const procs = new Set<ChildProcess>()

/** Fast link timings for tests: quick reconnects and liveness. */
export const FAST_LINK = { heartbeatInterval: 200, heartbeatTimeout: 1500, reconnectDelay: 100, maxReconnectDelay: 400 }

export function childManager(cert: MadeCert, trust: string[], host: string, port: number, extra: Record<string, unknown> = {}, udp = false, machines: Record<string, unknown> = {}): ShardingManager {
  const m = new ShardingManager({
    file: fixture('basic-client.mjs'),
    mode: 'machines',
    ...extra,
    machines: { me: 'child', ipc: { networkHost: host, networkPort: port, udp }, tls: { public: cert.certPath, private: cert.keyPath, trustedConnections: trust }, link: FAST_LINK, ...machines },
  } as never)
  m.on('error', () => {})
  live.add(m)
  return m
}

/** Two child managers on loopback, started (in standby), trusting the parent: a with children[0], b with children[1]. */
export async function startTwoChildren(certs: Certs): Promise<{ a: ShardingManager; b: ShardingManager; pa: number; pb: number; ca: MadeCert; cb: MadeCert }> {
  const [pa, pb] = [await freePort(), await freePort()]
  const [ca, cb] = certs.children as [MadeCert, MadeCert]
  const a = childManager(ca, [certs.parent.certPath], '127.0.0.1', pa)
  const b = childManager(cb, [certs.parent.certPath], '127.0.0.1', pb)
  await a.start()
  await b.start()
  return { a, b, pa, pb, ca, cb }
}

export function parentOptions(certs: Certs, points: { host: string; port: number; cert: MadeCert; mode: string; from: number; to: number; perInstance?: number; udp?: 'udp4' | 'udp6' }[], extra: Record<string, unknown> = {}) {
  const tls = { public: certs.parent.certPath, private: certs.parent.keyPath, trustedConnections: points.map((p) => p.cert.certPath) }
  return {
    mode: 'machines',
    identify: { windowMs: 200, marginMs: 0, maxConcurrency: 2 },
    restarts: { baseDelay: 50, maxDelay: 200 },
    machines: {
      me: 'parent',
      link: FAST_LINK,
      points: points.map((p) => ({
        host: p.host,
        port: p.port,
        ...(p.udp ? { udp: p.udp } : {}),
        childManagerOptions: { mode: p.mode, shards: { from: p.from, to: p.to }, shardsPerInstance: p.perInstance ?? 2 },
        tls,
      })),
    },
    ...extra,
  }
}

export function parentManager(options: Record<string, unknown>): ShardingManager {
  const m = new ShardingManager(options as never)
  m.on('error', () => {})
  parents.add(m)
  return m
}

/** Starts `discordoo-child` as its own process; resolves once it listens. */
export async function childProcess(args: string[]): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = spawn(process.execPath, [CHILD_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  procs.add(proc)
  let out = ''
  proc.stdout!.setEncoding('utf8').on('data', (d) => (out += d))
  proc.stderr!.setEncoding('utf8').on('data', (d) => (out += d))
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (/listening on/.test(out)) resolve()
    }
    proc.stdout!.on('data', check)
    proc.on('exit', (code) => reject(new Error(`discordoo-child exited with ${code}: ${out}`)))
  })
  return { proc, output: () => out }
}

/** Runs `discordoo-child` expecting it to fail; resolves with its exit code and output. */
export function childProcessFails(args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, [CHILD_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout!.setEncoding('utf8').on('data', (d) => (out += d))
  proc.stderr!.setEncoding('utf8').on('data', (d) => (out += d))
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, output: out })))
}

export async function stopMachines(): Promise<void> {
  // Parents first: they stop the shards on children that are still listening.
  await Promise.all([...parents].map((m) => m.stop().catch(() => {})))
  parents.clear()
  await Promise.all([...live].map((m) => m.stop().catch(() => {})))
  live.clear()
  await Promise.all(
    [...procs].map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve()
          p.once('exit', () => resolve())
          p.kill('SIGTERM')
        }),
    ),
  )
  procs.clear()
}

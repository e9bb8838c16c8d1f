// Shared set-up for the reproductions in this folder: each one is a small script against the public
// API (dist/), prints what it saw and what was expected, and exits 1 while the bug is present.
import { writeFileSync, mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ShardingManager } from '../../../dist/index.js'
import { ChaosProxy } from '../proxy.mjs'
import { ChildMachine, freePort, makeCert } from '../topology.mjs'

export { ShardingManager }
export const CLIENT = fileURLToPath(new URL('../../../dist/client.js', import.meta.url))
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export const dir = mkdtempSync(join(tmpdir(), 'dsm-repro-'))
// The manager's own timers are unref'd (see respawn-exits-node.mjs): keep this script alive until finish().
const keepAlive = setInterval(() => {}, 1000)
const cleanups = []
export function onCleanup(fn) {
  cleanups.push(fn)
}

/** Writes a client file whose body runs with `sharding` (ShardingClient) and `report(obj)` (appends to `out`) in scope. */
export function writeBot(name, body, { before = '' } = {}) {
  const file = join(dir, name)
  const out = `${file}.out`
  writeFileSync(
    file,
    `import { appendFileSync } from 'node:fs'\n${before}\nconst { ShardingClient } = await import(${JSON.stringify(CLIENT)})\nconst sharding = ShardingClient.fromEnvironment()\n` +
      `const report = (o) => appendFileSync(${JSON.stringify(out)}, JSON.stringify({ pid: process.pid, instance: sharding.instanceId, ...o }) + '\\n')\n${body}\n`,
  )
  return { file, read: () => (existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []) }
}

/** Settles `promise` into { ok, ms, code, name, message, value }. */
export async function timed(promise) {
  const t0 = Date.now()
  try {
    const value = await promise
    return { ok: true, ms: Date.now() - t0, value }
  } catch (err) {
    return { ok: false, ms: Date.now() - t0, code: err?.code, name: err?.name, message: err?.message }
  }
}

export function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A MACHINES parent (in this process) and one `discordoo-child` process, optionally behind a proxy. */
export async function machines({ bot, shards = 2, perInstance = 1, proxy: useProxy = true, env = {}, options = {} }) {
  const parentCert = makeCert(dir, 'parent')
  const port = await freePort()
  const child = new ChildMachine({ id: 'm0', index: 0, port, cert: makeCert(dir, 'child'), trust: parentCert.certPath, env, logFile: join(dir, 'child.log'), file: bot })
  onCleanup(() => child.kill('SIGKILL', 5000))
  await child.start()
  let proxy = null
  if (useProxy) {
    proxy = new ChaosProxy({ host: '127.0.0.1', port })
    await proxy.listen()
    onCleanup(() => proxy.close())
  }
  const parentOptions = {
    mode: 'machines',
    identify: { windowMs: 100, marginMs: 0, maxConcurrency: 4 },
    restarts: { baseDelay: 50, maxDelay: 200 },
    ...options,
    machines: {
      me: 'parent',
      link: { heartbeatInterval: 200, heartbeatTimeout: 1500, reconnectDelay: 100, maxReconnectDelay: 400 },
      points: [{ id: 'm0', host: '127.0.0.1', port: proxy ? proxy.port : port, childManagerOptions: { mode: 'processes', shards: { from: 0, to: shards - 1 }, shardsPerInstance: perInstance }, tls: { public: parentCert.certPath, private: parentCert.keyPath, trustedConnections: [child.cert.certPath] } }],
    },
  }
  const parent = new ShardingManager(parentOptions)
  parent.on('error', () => {})
  onCleanup(() => parent.stop().catch(() => {}))
  return { parent, child, proxy, parentOptions }
}

let failed = false
export function expectThat(ok, what, saw) {
  console.log(`${ok ? 'ok  ' : 'BUG '} ${what}${saw ? ` — saw: ${saw}` : ''}`)
  if (!ok) failed = true
}

/** Cleans up (in reverse order) and exits 1 if any expectation failed. */
export async function finish() {
  for (const fn of cleanups.reverse()) {
    try {
      await Promise.race([fn(), sleep(15_000)])
    } catch {
      // best effort
    }
  }
  rmSync(dir, { recursive: true, force: true })
  clearInterval(keepAlive)
  process.exit(failed ? 1 : 0)
}

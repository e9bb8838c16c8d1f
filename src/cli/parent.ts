/**
 * `discordoo parent --config parent.json`: runs a MACHINES parent from a JSON file, prints what its
 * machines do, serves metrics when the file asks, and on Ctrl-C / SIGTERM stops the shards on every
 * child (which stay in standby) before it exits, saying so.
 */
import { ShardingManager } from '../manager/ShardingManager.js'
import { formatMs } from './format.js'
import { oneLine, stdio, type ProgramOutput } from './exit.js'
import { CliUsageError } from './options.js'
import { managerError, readParentConfig, type ResolvedParentConfig } from './parent-config.js'
import { stopSignals } from './signals.js'

export interface ParentFlags {
  config?: string
  verbose?: boolean
}

/** How long stopping may take before the parent gives up waiting for the children. */
const STOP_LIMIT_MS = 60_000

/** Machines whose link is down and that run shards the parent cannot stop now. */
function machinesDown(manager: ShardingManager): string[] {
  return manager
    .status()
    .machines.filter((m) => m.link && !m.link.up && m.instances.length > 0)
    .map((m) => m.id)
}

/** Runs the parent until a signal stops it; resolves with the exit code (errors are thrown to the caller). */
export async function runParent(flags: ParentFlags, output: ProgramOutput = stdio): Promise<number> {
  if (!flags.config) throw new CliUsageError('--config', 'is required: the JSON file describing the child machines (see README "Operations")')
  const config = readParentConfig(flags.config)
  const verbose = Boolean(flags.verbose) || config.verbose
  const out = (line: string) => output.writeOut(`${new Date().toISOString()} ${line}\n`)

  let manager: ShardingManager
  try {
    // The manager serves /metrics, /healthz and /status itself (`metrics` option) from its start.
    manager = new ShardingManager(config.metrics ? { ...config.manager, metrics: config.metrics } : config.manager)
  } catch (err) {
    throw managerError(err, config.path)
  }
  wireParentEvents(manager, verbose, out)

  const signals = stopSignals((signal) => {
    const down = machinesDown(manager)
    output.writeErr(
      `discordoo parent: ${signal} again: exiting without waiting; shards the parent has not stopped keep running on their children` +
        `${down.length > 0 ? ` (unreachable: ${down.join(', ')})` : ''} until a parent stops them or their child manager stops\n`,
    )
    process.exit(130)
  })
  try {
    manager.once('metricsListening', ({ url }: { url: string }) => out(`metrics on ${url}/metrics · health ${url}/healthz · status ${url}/status (discordoo status --url ${url})`))
    out(describeStart(config))
    const t0 = performance.now()
    const started = manager.start().then(
      () => ({ kind: 'ready' as const }),
      (error: unknown) => ({ kind: 'failed' as const, error }),
    )
    const first = await Promise.race([started, signals.first.then((signal) => ({ kind: 'signal' as const, signal }))])
    let signal: string
    if (first.kind === 'failed') {
      await stopManager(manager, 'start-up failed', out)
      throw managerError(first.error, config.path)
    } else if (first.kind === 'signal') {
      signal = first.signal
      out(`${signal} during start-up`)
    } else {
      const s = manager.status()
      const shards = s.machines.reduce((a, m) => a + m.instances.reduce((b, i) => b + i.shards.length, 0), 0)
      out(`all ${shards} shards ready on ${s.machines.length} machine${s.machines.length === 1 ? '' : 's'} in ${formatMs(performance.now() - t0)}; Ctrl-C stops them`)
      signal = await signals.first
    }
    return (await stopManager(manager, signal, out)) ? 0 : 1
  } finally {
    signals.dispose()
  }
}

function describeStart(config: ResolvedParentConfig): string {
  const points = config.manager.machines!.points!
  const shards = points.map((p) => {
    const s = p.childManagerOptions?.shards as { from?: number; to?: number } | number | number[] | undefined
    const range = typeof s === 'object' && s !== null && !Array.isArray(s) ? `${s.from}-${s.to}` : Array.isArray(s) ? `${s.length} shards` : `${s} shards`
    return `${p.host}:${p.port ?? 8379} (${range})`
  })
  const token = config.tokenFrom === 'DISCORD_TOKEN' ? 'token from DISCORD_TOKEN' : config.tokenFrom === 'config' ? `token from ${config.path}` : 'no token (set DISCORD_TOKEN to read max_concurrency and the session budget from /gateway/bot)'
  return `parent starting: ${points.length} machine${points.length === 1 ? '' : 's'}: ${shards.join(', ')} · ${token}`
}

/** Stops the shards on every child; says which ones could not be reached. Resolves false when it took too long. */
async function stopManager(manager: ShardingManager, reason: string, out: (line: string) => void): Promise<boolean> {
  const machines = manager.status().machines
  const unreachable = machines.filter((m) => m.link && !m.link.up)
  const running = machinesDown(manager)
  const empty = unreachable.filter((m) => !running.includes(m.id)).map((m) => m.id)
  out(`${reason}: stopping the shards on ${machines.length} machine${machines.length === 1 ? '' : 's'}; the children stay in standby for the next parent`)
  if (running.length > 0) out(`unreachable now: ${running.join(', ')}; their shards keep running until a parent stops them or their child manager stops`)
  if (empty.length > 0) out(`never reached: ${empty.join(', ')}; nothing was started there`)
  let timer: NodeJS.Timeout | undefined
  const stopped = await Promise.race([
    manager.stop().then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), STOP_LIMIT_MS))),
  ])
  clearTimeout(timer)
  if (!stopped) {
    out(`the children did not confirm within ${formatMs(STOP_LIMIT_MS)}; exiting anyway (their shards may keep running)`)
    return false
  }
  out(unreachable.length > 0 ? 'stopped every shard the parent could reach; the children it reached are in standby' : 'stopped: every shard on every child is stopped; the children are in standby')
  return true
}

function wireParentEvents(manager: ShardingManager, verbose: boolean, out: (line: string) => void): void {
  manager.on('machineConnect', (e) => out(`machine ${e.machine} connected${e.resumed ? ' (link resumed)' : ''}`))
  manager.on('machineReady', (e) => out(`machine ${e.machine} ready: ${e.instances} instance${e.instances === 1 ? '' : 's'}`))
  manager.on('machineDisconnect', (e) => out(`machine ${e.machine} link down: ${e.reason}; reconnecting`))
  manager.on('machineError', (e) => out(`machine ${e.machine} error${e.code ? ` (${e.code})` : ''}: ${e.reason}`))
  manager.on('instanceDeath', (i) => out(i.reason === 'stopped' ? `instance ${i.id} on ${i.machine} stopped` : `instance ${i.id} on ${i.machine} died${i.reason ? `: ${oneLine(i.reason)}` : ''}`))
  manager.on('instanceGaveUp', (i) => out(`instance ${i.id} on ${i.machine} gave up: ${oneLine(i.error ?? i.reason)}`))
  manager.on('error', (e) => out(`error: ${oneLine(e)}`))
  if (verbose) manager.on('debug', (d: string) => out(d))
}

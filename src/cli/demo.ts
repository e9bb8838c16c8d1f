/**
 * `discordoo demo`: a gateway simulator, a ShardingManager and a real discord.js bot on this machine,
 * with no token and no internet. Shows spawn progress, time-to-ready against the physical floor, a
 * broadcastEval, and a live status table; stops cleanly on Ctrl-C / SIGTERM or after --duration.
 */
import { randomBytes } from 'node:crypto'
import { ShardingManager } from '../manager/ShardingManager.js'
import type { InstanceInfo } from '../manager/instance.js'
import { GatewaySimulator } from '../simulator/GatewaySimulator.js'
import { describeReadyTime, formatMs, formatShards, identifyFloorMs, stamp } from './format.js'
import type { DemoOptions } from './options.js'
import { renderStatusTable, renderSummaryLine, statusTotals } from './table.js'

export interface DemoIO {
  /** Writes text as is (lines end with \n). */
  write(text: string): void
  /** Redraw the table in place every second; otherwise print a summary line every `summaryEveryMs`. */
  isTTY: boolean
  /** Terminal width; live lines are cut to it so the redraw can count them. */
  columns?: number
  /** Calls `fn` on SIGINT / SIGTERM; returns a function that removes the handlers. */
  onStopSignal(fn: (signal: string) => void): () => void
}

/** Table refresh period on a terminal. */
export const REFRESH_MS = 1000
/** Summary line period when stdout is not a terminal. */
export const SUMMARY_EVERY_MS = 5000
/** Heartbeat interval the demo's simulator announces (Discord's is 41 250 ms) so pings show quickly. */
const SIM_HEARTBEAT_MS = 5000
/** How long stopping may take before the demo gives up waiting. */
const STOP_LIMIT_MS = 20_000

export function processIO(stream: NodeJS.WriteStream = process.stdout): DemoIO {
  return {
    write: (text) => void stream.write(text),
    isTTY: Boolean(stream.isTTY),
    get columns() {
      return stream.columns
    },
    onStopSignal(fn) {
      const handler = (signal: NodeJS.Signals) => fn(signal)
      process.on('SIGINT', handler)
      process.on('SIGTERM', handler)
      return () => {
        process.off('SIGINT', handler)
        process.off('SIGTERM', handler)
      }
    },
  }
}

type StartOutcome = { kind: 'ready' } | { kind: 'failed'; error: Error } | { kind: 'stop'; reason: string }

/** Runs the demo; resolves with the exit code (0 after a clean stop, 1 when start-up failed). */
export async function runDemo(opts: DemoOptions, io: DemoIO = processIO()): Promise<number> {
  let t0 = performance.now()
  const elapsed = () => performance.now() - t0

  // The live table is the last block on screen; other lines are printed above it.
  let liveLines = 0
  const eraseLive = () => {
    if (liveLines > 0) io.write(`\x1b[${liveLines}F\x1b[J`)
    liveLines = 0
  }
  let manager: ShardingManager | null = null
  const drawLive = () => {
    if (!manager) return
    const width = io.columns && io.columns > 20 ? io.columns - 1 : Infinity
    const lines = [...renderStatusTable(manager.status()), `live, redrawn every ${REFRESH_MS / 1000} s · Ctrl-C to stop`].map((l) => (l.length > width ? l.slice(0, width) : l))
    io.write(lines.join('\n') + '\n')
    liveLines = lines.length
  }
  const log = (line: string) => {
    const wasLive = liveLines > 0
    eraseLive()
    io.write(line + '\n')
    if (wasLive) drawLive()
  }
  const event = (name: string, text: string) => log(`${stamp(elapsed())} ${name.padEnd(16)}${text}`)

  // Stop requests: the first signal stops cleanly, a second one exits at once.
  let requestStop!: (reason: string) => void
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve))
  let signals = 0
  const removeSignals = io.onStopSignal((signal) => {
    signals++
    if (signals === 1) requestStop(signal)
    else {
      io.write(`\n${signal} again: exiting without waiting for a clean stop\n`)
      process.exit(130)
    }
  })

  const token = `demo-${randomBytes(18).toString('base64url')}`
  const sim = new GatewaySimulator({
    token,
    guilds: opts.guilds,
    maxConcurrency: opts.maxConcurrency,
    windowMs: opts.windowMs,
    heartbeatIntervalMs: SIM_HEARTBEAT_MS,
  })
  const timers: NodeJS.Timeout[] = []
  let exitCode = 0
  try {
    const { restUrl } = await sim.start({ port: 0, host: '127.0.0.1' })
    const spacing = opts.windowMs + opts.marginMs
    const floor = identifyFloorMs(opts.shards, opts.maxConcurrency, opts.windowMs)
    log(`discordoo demo: ${opts.shards} shards, ${opts.shardsPerInstance} per instance (${opts.instances} ${opts.mode === 'workers' ? 'worker threads' : 'processes'}), bot: ${opts.bot.kind} (${opts.bot.file})`)
    log(`simulator: ${restUrl} · ${opts.guilds} guilds · max_concurrency ${opts.maxConcurrency} · identify window ${opts.windowMs} ms · random token`)
    log(
      `identify pacing: one IDENTIFY per key (shard % ${opts.maxConcurrency}) every ${opts.windowMs} + ${opts.marginMs} ms margin = ${spacing} ms; ` +
        `physical floor (ceil(${opts.shards}/${opts.maxConcurrency})-1) × ${opts.windowMs} ms = ${formatMs(floor)}`,
    )

    manager = new ShardingManager({
      file: opts.bot.file,
      mode: opts.mode,
      shards: opts.shards,
      shardsPerInstance: opts.shardsPerInstance,
      token,
      passToken: true,
      api: restUrl,
      env: { DISCORD_API_BASE: restUrl },
      identify: { windowMs: opts.windowMs, marginMs: opts.marginMs },
      // Fresher memory / ping figures for the table than the 5 s default.
      timeouts: { heartbeatInterval: 1000 },
    })
    let shardsReady = 0
    const where = (i: InstanceInfo) => (i.threadId ? `thread ${i.threadId}` : i.pid ? `pid ${i.pid}` : '')
    manager.on('instanceSpawn', (i: InstanceInfo) => event('instanceSpawn', `instance ${i.id} · shards ${formatShards(i.shards)} · ${where(i)}`))
    manager.on('instanceReady', (i: InstanceInfo) => event('instanceReady', `instance ${i.id} · shards ${formatShards(i.shards)}`))
    manager.on('shardReady', (shardId: number, instanceId: number) => event('shardReady', `shard ${shardId} (instance ${instanceId}) · ${++shardsReady}/${opts.shards}`))
    manager.on('shardResume', (shardId: number, instanceId: number) => event('shardResume', `shard ${shardId} (instance ${instanceId})`))
    manager.on('shardDisconnect', (shardId: number, instanceId: number, code?: number) =>
      event('shardDisconnect', `shard ${shardId} (instance ${instanceId})${code === undefined ? '' : ` · close ${code}`}`),
    )
    manager.on('instanceDeath', (i: InstanceInfo & { code: number | null; signal: string | null; reason?: unknown }) =>
      event('instanceDeath', `instance ${i.id} · code ${i.code ?? '—'}${i.signal ? ` · ${i.signal}` : ''}${i.reason ? ` · ${oneLine(i.reason)}` : ''}`),
    )
    manager.on('instanceRespawn', (i: InstanceInfo) => event('instanceRespawn', `instance ${i.id}`))
    manager.on('instanceGaveUp', (i: InstanceInfo & { reason: string; error?: unknown }) =>
      event('instanceGaveUp', `instance ${i.id} · ${i.reason}${i.error ? ` · ${oneLine(i.error)}` : ''}`),
    )
    manager.on('error', (err: unknown) => event('error', oneLine(err)))
    if (opts.verbose) manager.on('debug', (line: string) => event('debug', line))

    log('')
    t0 = performance.now()
    const started = manager.start().then(
      (): StartOutcome => ({ kind: 'ready' }),
      (error: Error): StartOutcome => ({ kind: 'failed', error }),
    )
    const outcome = await Promise.race([started, stopRequested.then((reason): StartOutcome => ({ kind: 'stop', reason }))])

    let stopReason: string
    if (outcome.kind === 'failed') {
      log(`start-up failed: ${oneLine(outcome.error)}`)
      exitCode = 1
      stopReason = 'start-up failed'
    } else if (outcome.kind === 'stop') {
      log(`${outcome.reason} during start-up`)
      stopReason = outcome.reason
    } else {
      const readyMs = elapsed()
      log('')
      log(`all ${opts.shards} shards ready in ${describeReadyTime(readyMs, opts.shards, opts.maxConcurrency, opts.windowMs)}`)
      await showBroadcastEval(manager, opts, log)
      const stats = sim.stats()
      log(
        `simulator: ${stats.identifyCount} IDENTIFYs accepted · ${stats.violations.length} identify-window violations · ` +
          `${stats.sessions.duplicates.length} duplicate sessions · ${stats.openConnections} open connections`,
      )
      log('')
      // Heartbeat answers carry memory, ping and guild counts: let one arrive after ready.
      await freshStatus(manager, Date.now(), 2000)

      if (io.isTTY) {
        drawLive()
        timers.push(setInterval(() => {
          eraseLive()
          drawLive()
        }, REFRESH_MS))
      } else {
        for (const line of renderStatusTable(manager.status())) log(line)
        timers.push(setInterval(() => log(`${stamp(elapsed())} status          ${renderSummaryLine(manager!.status())}`), SUMMARY_EVERY_MS))
      }
      const durationMs = opts.durationMs
      const timeUp = durationMs === null ? new Promise<string>(() => {}) : new Promise<string>((resolve) => timers.push(setTimeout(() => resolve(`--duration ${durationMs / 1000} s elapsed`), durationMs)))
      stopReason = await Promise.race([stopRequested, timeUp])
    }

    for (const timer of timers) clearInterval(timer)
    if (io.isTTY && liveLines > 0) {
      // Leave the last table on screen, freshly drawn.
      eraseLive()
      drawLive()
      liveLines = 0
    }
    log(`stopping (${stopReason})…`)
    const stopT0 = performance.now()
    const finalTotals = statusTotals(manager.status())
    const stopped = await withinMs(manager.stop(), STOP_LIMIT_MS)
    const stats = sim.stats()
    await sim.stop()
    if (!stopped) {
      log(`the manager did not stop within ${formatMs(STOP_LIMIT_MS)}; exiting anyway`)
      exitCode = exitCode || 1
    } else {
      log(
        `stopped cleanly in ${formatMs(performance.now() - stopT0)}: ${finalTotals.instances} instances, ${finalTotals.shards} shards; ` +
          `simulator saw ${stats.identifyCount} IDENTIFYs, ${stats.violations.length} violations, ${stats.resumes} resumes`,
      )
    }
    return exitCode
  } catch (err) {
    log(`demo failed: ${oneLine(err)}`)
    for (const timer of timers) clearInterval(timer)
    await withinMs(manager?.stop() ?? Promise.resolve(), STOP_LIMIT_MS)
    await sim.stop().catch(() => {})
    return 1
  } finally {
    for (const timer of timers) clearInterval(timer)
    removeSignals()
  }
}

async function showBroadcastEval(manager: ShardingManager, opts: DemoOptions, log: (line: string) => void): Promise<void> {
  const t = performance.now()
  try {
    const counts: unknown[] = await manager.broadcastEval((client: any) => client?.guilds?.cache?.size ?? null, { timeout: 10_000 })
    const ms = performance.now() - t
    const total = counts.reduce((a: number, c) => a + (typeof c === 'number' ? c : 0), 0)
    log(
      `broadcastEval((client) => client.guilds.cache.size) → ${JSON.stringify(counts)} in ${formatMs(ms)}: ` +
        `${total} guilds over ${counts.length} instances (the simulator has ${opts.guilds})`,
    )
  } catch (err) {
    log(`broadcastEval failed: ${oneLine(err)}`)
  }
}

/** Waits (at most `limitMs`) until every instance has answered a heartbeat after `sinceEpochMs`. */
async function freshStatus(manager: ShardingManager, sinceEpochMs: number, limitMs: number): Promise<void> {
  const end = Date.now() + limitMs
  while (Date.now() < end) {
    const instances = manager.status().machines.flatMap((m) => m.instances)
    if (instances.every((i) => (i.lastHeartbeat ?? 0) > sinceEpochMs)) return
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Resolves true when `promise` settles within `ms`, false otherwise (never rejects). */
function withinMs(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer))
}

function oneLine(err: unknown): string {
  const text =
    typeof err === 'string' ? err : typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string' ? (err as { message: string }).message : JSON.stringify(err)
  return String(text).split('\n')[0]
}

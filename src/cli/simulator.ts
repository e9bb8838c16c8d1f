/** `discordoo simulator`: flags → startSimulatorFromCli, with flag-named errors. */
import { startSimulatorFromCli, type SimulatorCliOptions } from '../simulator/cli.js'
import { CliUsageError, integerFlag } from './options.js'

/** Flags of `discordoo simulator` as commander hands them over. */
export interface SimulatorFlags {
  port?: string | number
  host?: string
  guilds?: string | number
  maxConcurrency?: string | number
  token?: string
  windowMs?: string | number
  shards?: string | number
  maxGuildsPerShard?: string | number
  heartbeatIntervalMs?: string | number
  sessionLimit?: string | number
  budgetExhaustedMode?: string
  publicUrl?: string
  adminAnyHost?: boolean
}

/** Maps the flags to `startSimulatorFromCli`'s options; the port is checked here, the rest by the simulator. */
export function simulatorCliOptions(flags: SimulatorFlags): SimulatorCliOptions {
  const o: SimulatorCliOptions = { port: integerFlag('--port', flags.port, 8787, 0, 65_535), host: flags.host ?? '127.0.0.1' }
  const copy = ['guilds', 'maxConcurrency', 'token', 'windowMs', 'shards', 'maxGuildsPerShard', 'heartbeatIntervalMs', 'sessionLimit', 'budgetExhaustedMode', 'publicUrl'] as const
  for (const key of copy) if (flags[key] !== undefined) (o as Record<string, unknown>)[key] = flags[key]
  if (flags.budgetExhaustedMode !== undefined && !['terminate', 'invalid-session'].includes(flags.budgetExhaustedMode)) {
    throw new CliUsageError('--budget-exhausted-mode', `must be 'terminate' or 'invalid-session', got ${JSON.stringify(flags.budgetExhaustedMode)}`)
  }
  if (flags.adminAnyHost) o.adminAnyHost = true
  return o
}

/** Starts the simulator and keeps it running until SIGINT / SIGTERM (handled by startSimulatorFromCli). */
export async function runSimulator(flags: SimulatorFlags): Promise<void> {
  const options = simulatorCliOptions(flags)
  try {
    await startSimulatorFromCli({ ...options, handleSignals: true })
  } catch (err) {
    throw listenError(err, options.host ?? '127.0.0.1', Number(options.port))
  }
}

/** A failed listen as one line that says what to do, instead of Node's raw `listen EADDRINUSE …`. */
export function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as { code?: unknown })?.code
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  if (code === 'EADDRINUSE') return new Error(`--port ${port}: ${where} is already in use (another simulator?); choose another --port, or --port 0 for any free port`)
  if (code === 'EACCES') return new Error(`--port ${port}: no permission to listen on ${where} (ports below 1024 need privileges); choose another --port`)
  if (code === 'EADDRNOTAVAIL') return new Error(`--host ${host}: this machine has no such address; use one of its own addresses, e.g. 127.0.0.1`)
  return err
}

import { OptionsError } from '../errors.js'
import { GatewaySimulator } from './GatewaySimulator.js'
import type { SimulatorOptions } from './options.js'

/**
 * Options of `discordoo simulator`. Numbers may come as strings (as commander passes them) and are
 * checked like the constructor's options.
 */
export interface SimulatorCliOptions {
  port?: number | string
  host?: string
  guilds?: number | string
  maxConcurrency?: number | string
  /** One token, or several separated by commas. */
  token?: string
  shards?: number | string
  maxGuildsPerShard?: number | string
  heartbeatIntervalMs?: number | string
  windowMs?: number | string
  sessionLimit?: number | string
  budgetExhaustedMode?: string
  publicUrl?: string
  /** Let other hosts call `/__sim/*` (default: loopback only). */
  adminAnyHost?: boolean
  /** Stop cleanly on SIGINT/SIGTERM. Default true. */
  handleSignals?: boolean
  /** Where the start-up lines go. Default `console.log`. */
  log?: (line: string) => void
}

function num(field: string, value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = typeof value === 'number' ? value : Number(value)
  if (typeof value === 'string' && (value.trim() === '' || !Number.isFinite(n))) {
    throw new OptionsError(field, `must be a number, got ${JSON.stringify(value)}`)
  }
  return n
}

/** Maps CLI flags to simulator options (exported for the CLI's own tests). */
export function cliToSimulatorOptions(cli: SimulatorCliOptions): SimulatorOptions {
  const o: SimulatorOptions = {}
  const tokens = cli.token?.split(',').map((t) => t.trim()).filter(Boolean)
  if (tokens && tokens.length > 0) o.tokens = tokens
  const set = <K extends keyof SimulatorOptions>(key: K, value: SimulatorOptions[K] | undefined): void => {
    if (value !== undefined) o[key] = value
  }
  set('guilds', num('guilds', cli.guilds))
  set('maxConcurrency', num('maxConcurrency', cli.maxConcurrency))
  set('recommendedShards', num('shards', cli.shards))
  set('maxGuildsPerShard', num('maxGuildsPerShard', cli.maxGuildsPerShard))
  set('heartbeatIntervalMs', num('heartbeatIntervalMs', cli.heartbeatIntervalMs))
  set('windowMs', num('windowMs', cli.windowMs))
  const sessionLimit = num('sessionLimit', cli.sessionLimit)
  if (sessionLimit !== undefined) o.sessionStartLimit = { total: sessionLimit }
  set('budgetExhaustedMode', cli.budgetExhaustedMode as SimulatorOptions['budgetExhaustedMode'])
  set('publicUrl', cli.publicUrl)
  if (cli.adminAnyHost) o.adminHttp = 'any'
  return o
}

/**
 * Starts a simulator for `discordoo simulator`, prints its URLs and how to point discord.js at it, and
 * (by default) stops it on SIGINT/SIGTERM. Resolves with the running simulator.
 */
export async function startSimulatorFromCli(cli: SimulatorCliOptions = {}): Promise<GatewaySimulator> {
  const log = cli.log ?? ((line: string) => console.log(line))
  const sim = new GatewaySimulator(cliToSimulatorOptions(cli))
  const { restUrl, gatewayUrl } = await sim.start({ port: num('port', cli.port) ?? 8787, host: cli.host ?? '127.0.0.1' })
  const cfg = sim.config()
  log(`discordoo gateway simulator listening`)
  log(`  REST:    ${restUrl}   (discord.js: new Client({ rest: { api: '${restUrl}' } }))`)
  log(`  Gateway: ${gatewayUrl}`)
  log(`  Admin:   ${restUrl.replace(/\/api$/, '')}/__sim/stats`)
  log(`  token ${sim.tokens.join(', ')} · ${cfg.guilds} guilds · max_concurrency ${cfg.maxConcurrency} · recommended shards ${cfg.recommendedShards}`)
  if (cli.handleSignals ?? true) {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      void sim.stop().then(() => process.exit(0))
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  return sim
}

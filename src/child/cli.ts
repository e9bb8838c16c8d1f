/**
 * `discordoo-child`: starts a child manager in standby on a server, waiting for its parent.
 *   discordoo-child --host 10.0.18.1 --file ./bot.js --cert me.pem --key me.key --trust parent.pem
 * Every error is one clear line and a non-zero exit; SIGTERM/SIGINT stop the shards first.
 */
import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import { DEFAULT_CHILD_PORT } from '../constants.js'
import { OptionsError, ShardingError } from '../errors.js'
import { ShardingManager } from '../manager/ShardingManager.js'
import type { ShardingManagerOptions } from '../manager/options.js'

export interface ChildCliConfig {
  host: string
  port?: number
  file: string
  cert: string
  key: string
  trust: string[]
  dhparam?: string
  udp?: boolean
  verbose?: boolean
}

/** Where each manager option comes from on the command line, so errors name the flag the user typed. */
const FLAG_OF_FIELD: [RegExp, string][] = [
  [/^machines\.tls\.public/, '--cert'],
  [/^machines\.tls\.private/, '--key'],
  [/^machines\.tls\.trustedConnections/, '--trust'],
  [/^machines\.tls\.dhparam/, '--dhparam'],
  [/^machines\.ipc\.networkHost/, '--host'],
  [/^machines\.ipc\.networkPort/, '--port'],
  [/^file/, '--file'],
]

export function buildChildProgram(): Command {
  return new Command('discordoo-child')
    .description('Run a discordoo-sharding child manager in standby: it waits for a parent manager to connect over mutual TLS and assign it a shard range.')
    .addOption(new Option('--host <ip>', 'IP address to listen on (IPv4 or IPv6), e.g. 10.0.18.1 or ::1'))
    .addOption(new Option('--port <port>', `TCP port to listen on (also the UDP port with --udp)`).default(String(DEFAULT_CHILD_PORT)))
    .addOption(new Option('--file <path>', 'the bot client file every instance runs'))
    .addOption(new Option('--cert <pem>', "this machine's certificate (PEM); the parent lists it in its trustedConnections"))
    .addOption(new Option('--key <pem>', "this machine's private key (PEM)"))
    .addOption(new Option('--trust <pem>', "a parent certificate to trust (repeat for several; a file may hold several PEMs)").argParser(collect).default([]))
    .addOption(new Option('--dhparam <pem>', 'accepted for compatibility; a no-op under TLS 1.3'))
    .addOption(new Option('--udp', 'also accept encrypted UDP for messages when the parent asks (TLS stays the control link)'))
    .addOption(new Option('--config <json>', 'a JSON file with the same fields: { host, port, file, cert, key, trust: [], dhparam, udp }'))
    .addOption(new Option('--verbose', 'print debug lines'))
    .showHelpAfterError(false)
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

/** Merges --config and flags (flags win) and checks what must be present. */
export function resolveChildConfig(flags: Record<string, unknown>): ChildCliConfig {
  let fromFile: Partial<ChildCliConfig> = {}
  if (typeof flags.config === 'string') {
    try {
      fromFile = JSON.parse(readFileSync(flags.config, 'utf8')) as Partial<ChildCliConfig>
    } catch (err) {
      throw new OptionsError('--config', `cannot read ${flags.config}: ${(err as Error).message}`)
    }
  }
  const trustFlags = (flags.trust as string[] | undefined) ?? []
  const merged = {
    ...fromFile,
    ...Object.fromEntries(Object.entries(flags).filter(([k, v]) => v !== undefined && k !== 'config' && k !== 'trust')),
    trust: trustFlags.length > 0 ? trustFlags : (fromFile.trust ?? []),
  } as Record<string, unknown>
  if (flags.port === String(DEFAULT_CHILD_PORT) && fromFile.port !== undefined) merged.port = fromFile.port
  for (const key of ['host', 'file', 'cert', 'key'] as const) {
    if (typeof merged[key] !== 'string' || (merged[key] as string).length === 0) throw new OptionsError(`--${key}`, 'is required (or set it in --config)')
  }
  if (!Array.isArray(merged.trust) || merged.trust.length === 0) throw new OptionsError('--trust', 'is required: the certificate of the parent allowed to connect')
  const port = Number(merged.port ?? DEFAULT_CHILD_PORT)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OptionsError('--port', `expected a port 0..65535, got ${String(merged.port)}`)
  return { ...(merged as unknown as ChildCliConfig), port }
}

export function childManagerOptions(c: ChildCliConfig): ShardingManagerOptions {
  return {
    file: c.file,
    mode: 'machines',
    machines: {
      me: 'child',
      ipc: { networkHost: c.host, networkPort: c.port, ...(c.udp ? { udp: true } : {}) },
      tls: { public: c.cert, private: c.key, trustedConnections: c.trust, ...(c.dhparam ? { dhparam: c.dhparam } : {}) },
    },
  }
}

function flagMessage(err: unknown): string {
  if (err instanceof OptionsError) {
    const flag = FLAG_OF_FIELD.find(([re]) => re.test(err.field))?.[1]
    return flag ? `${flag}: ${err.message.slice(err.field.length + 2)}` : err.message
  }
  return (err as Error)?.message ?? String(err)
}

export async function runChildCli(argv: string[], out: (line: string) => void = (l) => console.log(l)): Promise<ShardingManager> {
  const program = buildChildProgram()
  program.exitOverride()
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) })
  program.parse(argv, { from: 'user' })
  const config = resolveChildConfig(program.opts())
  let manager: ShardingManager
  try {
    manager = new ShardingManager(childManagerOptions(config))
  } catch (err) {
    throw new ShardingError('CLI', flagMessage(err))
  }
  const stamp = () => new Date().toISOString()
  manager.on('listening', ({ port }) => out(`${stamp()} listening on ${config.host}:${port}, waiting for a parent`))
  manager.on('instanceReady', (i) => out(`${stamp()} instance ${i.id} ready (shards ${i.shards.join(',')})`))
  manager.on('instanceDeath', (i) => out(`${stamp()} instance ${i.id} died: ${i.reason}`))
  manager.on('instanceGaveUp', (i) => out(`${stamp()} instance ${i.id} gave up: ${i.error?.message ?? i.reason}`))
  manager.on('machineError', (e) => out(`${stamp()} refused ${e.address ?? ''}: ${e.reason}`))
  manager.on('error', (e) => out(`${stamp()} error: ${e.message}`))
  manager.on('debug', (d) => {
    if (config.verbose || /attached|assigned|link down/.test(d)) out(`${stamp()} ${d}`)
  })
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    out(`${stamp()} ${signal}: stopping the shards`)
    manager.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  // Before start(): a signal that arrives while it is starting must stop it cleanly too.
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
  try {
    await manager.start()
  } catch (err) {
    throw new ShardingError('CLI', flagMessage(err))
  }
  return manager
}

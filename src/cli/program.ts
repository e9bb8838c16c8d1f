/**
 * The `discordoo` command line: commands, flags and help (commander), and how errors become one
 * line and an exit code. The actions are passed in, so tests can parse without starting anything.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command, Option } from 'commander'
import { configureProgram, reportFailure, stdio, type ProgramOutput } from './exit.js'
import { DEMO_DEFAULTS, type DemoFlags } from './options.js'
import { packageRoot } from './paths.js'
import type { SimulatorFlags } from './simulator.js'
import type { StatusFlags } from './status.js'
import type { ParentFlags } from './parent.js'

export interface CliActions {
  /** Resolves with the exit code once the demo has stopped. */
  demo(flags: DemoFlags): Promise<number>
  /** Resolves once the simulator listens; it then runs until SIGINT / SIGTERM. */
  simulator(flags: SimulatorFlags): Promise<void>
  /** Prints a running manager's status (once, or until Ctrl-C with --watch); resolves with the exit code. */
  status(flags: StatusFlags): Promise<number>
  /** Runs a MACHINES parent from a JSON file until SIGINT / SIGTERM; resolves with the exit code. */
  parent(flags: ParentFlags): Promise<number>
}

export type { ProgramOutput } from './exit.js'

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return '0.0.0'
  }
}

/** What a finished command asks the process to do: exit with a code, or keep running (a server). */
export type CliResult = { exitCode: number } | { keepRunning: true }

/** An option whose default is shown as is (commander's typings only take string defaults in option()). */
function withDefault(flags: string, description: string, value: number): Option {
  return new Option(flags, description).default(value)
}

export function buildProgram(actions: CliActions, output: ProgramOutput = stdio, result: { value: CliResult | null } = { value: null }): Command {
  const program = configureProgram(new Command('discordoo'), output)
  program
    .description('discordoo-sharding: run a Discord bot\'s shards across processes, worker threads and machines')
    .version(version(), '-v, --version')

  program
    .command('demo')
    .description('Run a bot\'s shards locally against the built-in gateway simulator: no token, no internet. Shows spawn progress, time-to-ready against the identify floor, a broadcastEval and a live status table.')
    .addOption(withDefault('--shards <n>', 'total shards to run (1-1024)', DEMO_DEFAULTS.shards))
    .addOption(withDefault('--shards-per-instance <n>', 'shards per process / worker thread', DEMO_DEFAULTS.shardsPerInstance))
    .addOption(new Option('--mode <mode>', 'run instances as child processes or worker threads').choices(['processes', 'workers']).default(DEMO_DEFAULTS.mode))
    .addOption(withDefault('--guilds <n>', 'guilds the simulator creates (spread evenly over the shards; at most 2500 per shard)', DEMO_DEFAULTS.guilds))
    .addOption(withDefault('--max-concurrency <n>', 'max_concurrency the simulator announces: shards in the same identify window', DEMO_DEFAULTS.maxConcurrency))
    .addOption(withDefault('--window-ms <ms>', 'identify window per key, in the simulator and the manager (Discord: 5000)', DEMO_DEFAULTS.windowMs))
    .addOption(withDefault('--margin-ms <ms>', 'safety margin the manager adds to every window', DEMO_DEFAULTS.marginMs))
    .option('--duration <seconds>', 'stop this many seconds after every shard is ready (default: run until Ctrl-C / SIGTERM)')
    .option('--bot <bot>', "'opted-in' (examples/bots/discordjs-bot.mjs, uses attach()), 'unmodified' (examples/bots/discordjs-unmodified.mjs, a bot written for discord.js's ShardingManager) or the path of your own client file", DEMO_DEFAULTS.bot)
    .option('--verbose', "also print the manager's debug lines (identify grants, start-gate decisions)")
    .addHelpText(
      'after',
      [
        '',
        'The bot gets DISCORD_TOKEN (a random token) and DISCORD_API_BASE (the simulator) in its environment.',
        '',
        'Examples:',
        '  discordoo demo                                   16 shards, 4 per process, real 5 s identify window',
        '  discordoo demo --mode workers --duration 30      worker threads; stop 30 s after all shards are ready',
        '  discordoo demo --shards 8 --max-concurrency 1    one identify every 5.25 s: about 37 s to ready',
        '  discordoo demo --bot unmodified                  an unmodified discord.js bot, started one instance at a time',
      ].join('\n'),
    )
    .action(async (flags: DemoFlags) => {
      result.value = { exitCode: await actions.demo(flags) }
    })

  program
    .command('simulator')
    .description('Start the local Discord gateway simulator (REST /gateway/bot + WebSocket gateway on one port) until Ctrl-C.')
    .addOption(withDefault('--port <port>', 'port to listen on (0: any free port)', 8787))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--guilds <n>', 'guilds to create (default 100)')
    .option('--max-concurrency <n>', 'max_concurrency in /gateway/bot; identify keys are shard % n (default 1)')
    .option('--token <tokens>', "token(s) clients must send, comma-separated (default 'sim-token')")
    .option('--window-ms <ms>', 'one IDENTIFY per key per this many ms (default 5000)')
    .option('--shards <n>', 'shards recommended by /gateway/bot (default: one per 1000 guilds)')
    .option('--max-guilds-per-shard <n>', 'sessions with more guilds are closed with 4011 (default 2500)')
    .option('--heartbeat-interval-ms <ms>', 'heartbeat_interval sent in HELLO (default 41250)')
    .option('--session-limit <n>', 'daily session-start budget (default 1000)')
    .addOption(new Option('--budget-exhausted-mode <mode>', 'what an IDENTIFY gets once the budget is spent (default terminate)').choices(['terminate', 'invalid-session']))
    .option('--public-url <url>', 'base URL to advertise instead of the bound address (e.g. http://10.0.0.5:8787)')
    .option('--admin-any-host', 'serve the /__sim/* admin API to any host, not only loopback (it reveals the tokens)')
    .action(async (flags: SimulatorFlags) => {
      await actions.simulator(flags)
      result.value = { keepRunning: true }
    })

  program
    .command('parent')
    .description('Run a MACHINES parent manager from a JSON file: it connects to every child machine (discordoo-child), assigns their shard ranges and stays the bot\'s root until Ctrl-C / SIGTERM, which stops the shards on every child.')
    .option('--config <json>', 'the parent\'s JSON file: { points, tls, link, api, totalShards, identify, env, metrics, ... }; relative paths in it are relative to the file')
    .option('--verbose', "also print the manager's debug lines")
    .addHelpText(
      'after',
      [
        '',
        'The token is read from DISCORD_TOKEN (or "token" in the file); the parent only uses it for /gateway/bot.',
        'See README "Operations" for every field.',
        '',
        'Example parent.json:',
        '  {',
        '    "tls": { "public": "parent.pem", "private": "parent.key", "trustedConnections": ["child-1.pem", "child-2.pem"] },',
        '    "points": [',
        '      { "host": "10.0.18.1", "childManagerOptions": { "mode": "processes", "shards": { "from": 0, "to": 127 }, "shardsPerInstance": 8 } },',
        '      { "host": "10.0.18.2", "childManagerOptions": { "mode": "workers", "shards": { "from": 128, "to": 255 } } }',
        '    ],',
        '    "metrics": { "port": 9100 }',
        '  }',
      ].join('\n'),
    )
    .action(async (flags: ParentFlags) => {
      result.value = { exitCode: await actions.parent(flags) }
    })

  program
    .command('status')
    .description("Print the live status table of a running manager, read from its metrics endpoint's /status (the manager's `metrics` option, or `metrics` in `discordoo parent --config`).")
    .option('--url <url>', 'the metrics address, e.g. http://127.0.0.1:9100 (/status is added)')
    .option('--watch [seconds]', `redraw every this many seconds until Ctrl-C (default ${2} s)`)
    .option('--timeout <seconds>', 'give up on one request after this long (default 5)')
    .addHelpText('after', ['', 'Examples:', '  discordoo status --url http://127.0.0.1:9100', '  discordoo status --url http://10.0.18.9:9100 --watch 5'].join('\n'))
    .action(async (flags: StatusFlags) => {
      result.value = { exitCode: await actions.status(flags) }
    })

  return program
}

/**
 * Parses argv and runs the command. Resolves with what the process should do; never throws.
 * Usage errors are one line on stderr and exit code 2; other failures exit code 1.
 */
export async function main(argv: string[], actions: CliActions, output: ProgramOutput = stdio): Promise<CliResult> {
  const result: { value: CliResult | null } = { value: null }
  const program = buildProgram(actions, output, result)
  try {
    await program.parseAsync(argv)
    return result.value ?? { exitCode: 0 }
  } catch (err) {
    const command = argv.slice(2).find((a) => !a.startsWith('-')) ?? ''
    return { exitCode: reportFailure(`discordoo${command ? ` ${command}` : ''}`, err, output) }
  }
}

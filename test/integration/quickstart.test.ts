// The README's manager scripts, run as written: the Quick start's two code blocks, and the manager line
// of "Coming from discord.js's ShardingManager" with a bot written for discord.js's own manager. Each
// runs in a folder where `npm install discordoo-sharding discord.js` has run (links to this checkout),
// with only DISCORD_TOKEN set, as the README says. Nothing in them points at a simulator, so they run in
// namespaces of their own (network, mount, pid) in which discord.com is 127.0.0.1 and the gateway
// simulator answers there over TLS (test/fixtures/quickstart-netns.mjs); the pid namespace ends every
// process with the run.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeCert, makeTempDir, removeDir, type MadeCert } from '../helpers/certs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DRIVER = join(ROOT, 'test/fixtures/quickstart-netns.mjs')
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The README from `heading` to the next heading of the same level. */
function section(heading: string): string {
  const level = heading.split(' ')[0]!
  const start = README.indexOf(`\n${heading}\n`)
  expect(start, heading).toBeGreaterThan(0)
  const end = README.indexOf(`\n${level} `, start + heading.length + 1)
  return README.slice(start, end < 0 ? undefined : end)
}

interface Run {
  how: string
  out: string
  stats: { identifyCount: number; violations: number; rest: Record<string, number>; duplicates: number; live: string[] }
}

let root: string
let cert: MadeCert
beforeAll(() => {
  root = makeTempDir('dsm-quickstart-')
  cert = makeCert(root, 'discord.com', { sans: ['DNS:discord.com'], eku: 'serverAuth' })
  writeFileSync(join(root, 'hosts'), '127.0.0.1 localhost discord.com\n::1 localhost\n')
})
afterAll(() => removeDir(root))

/** A project folder as `npm install discordoo-sharding discord.js` leaves it, with these files. */
function project(name: string, files: Map<string, string>): string {
  const dir = join(root, name)
  mkdirSync(join(dir, 'node_modules'), { recursive: true })
  symlinkSync(ROOT, join(dir, 'node_modules/discordoo-sharding'))
  symlinkSync(join(ROOT, 'node_modules/discord.js'), join(dir, 'node_modules/discord.js'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-bot', private: true, dependencies: { 'discordoo-sharding': '*', 'discord.js': '*' } }))
  for (const [file, code] of files) writeFileSync(join(dir, file), code)
  return dir
}

/** `node manager.mjs` in `dir`, where discord.com is the simulator, until its output matches `until`. */
async function runAsDiscord(dir: string, until?: string): Promise<Run> {
  const config = JSON.stringify({ dir, certPath: cert.certPath, keyPath: cert.keyPath, simulator: join(ROOT, 'dist/simulator.js'), until })
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.DISCORD_TOKEN
  delete env.DISCORD_API_BASE
  delete env.NODE_OPTIONS
  const script = `mount --bind "$1" /etc/hosts && ip link set lo up && exec "$2" "$3" "$4"`
  const proc = spawn('unshare', ['--net', '--mount', '--pid', '--fork', '--mount-proc', 'bash', '-c', script, 'quickstart', join(root, 'hosts'), process.execPath, DRIVER, config], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (out += d))
  const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)))
  expect(code, out).toBe(0)
  const line = /^@@quickstart (.*)$/m.exec(out)
  expect(line, out).not.toBeNull()
  const run = JSON.parse(line![1]!) as Run
  expect(run.how, run.out).toBe('printed')
  return run
}

describe('README Quick start', () => {
  /** Each ```js block, named by the `file` label before it. */
  const files = (): Map<string, string> => {
    const found = new Map<string, string>()
    for (const m of section('## Quick start').matchAll(/^`([\w.-]+)`[^\n]*\n\n```js\n([\s\S]*?)^```/gm)) found.set(m[1]!, m[2]!)
    return found
  }

  it('holds manager.mjs and bot.mjs', () => {
    expect([...files().keys()]).toEqual(['manager.mjs', 'bot.mjs'])
    expect(files().get('manager.mjs')).toContain("file: './bot.mjs'")
    expect(files().get('bot.mjs')).toContain('sharding.attach(client)')
  })

  it('runs as written: the manager asks discord.com for the shard count, the bot logs in, fetchClientValues answers', async () => {
    const run = await runAsDiscord(project('quickstart', files()))
    // 'auto' asked discord.com's /gateway/bot (4 shards), and the one instance of 4 shards answered with its guild count.
    expect(run.out).toContain('instance 0 ready: shards 0,1,2,3')
    expect(run.out).toMatch(/^\[ 400 \]$/m)
    expect(run.stats.live).toEqual(['0/4', '1/4', '2/4', '3/4'])
    expect(run.stats.identifyCount).toBe(4)
    expect(run.stats.violations).toBe(0)
    expect(run.stats.duplicates).toBe(0)
    // The bot's own ask was answered by the manager from its own (see "discord.js bots").
    expect(run.stats.rest['/gateway/bot']).toBe(1)
  }, 120_000)
})

describe("README: coming from discord.js's ShardingManager", () => {
  /** The table's manager line: `new ShardingManager({ … })` in the right-hand column of its first row. */
  const managerLine = (): string => {
    const m = /^\| `new ShardingManager\('\.\/bot\.js', \{ token \}\)` \| `(new ShardingManager\(\{[^`]*\}\))`/m.exec(section("### Coming from discord.js's `ShardingManager`"))
    expect(m, 'the first row maps discord.js\'s constructor').not.toBeNull()
    return m![1]!
  }

  it('runs the manager line with a bot written for discord.js\'s manager: spawn(), login() without a token, fetchClientValues(prop, shard), broadcast()', async () => {
    const manager = [
      "import { ShardingManager } from 'discordoo-sharding'",
      'const token = process.env.DISCORD_TOKEN',
      `const manager = ${managerLine()}`,
      "manager.on('instanceSpawn', (i) => console.log(`instance ${i.id} spawned: shards ${i.shards}`))",
      'await manager.spawn()', // discord.js's name for start()
      "console.log(`shard 2 guilds: ${await manager.fetchClientValues('guilds.cache.size', 2)}`)",
      "await manager.broadcast('hello')",
      'console.log(`received: ${JSON.stringify(await manager.broadcastEval(() => globalThis.received))}`)',
    ].join('\n')
    // discord.js's own sharding guide's bot: the token comes from DISCORD_TOKEN, manager messages from process.on('message').
    const bot = [
      "const { Client, GatewayIntentBits } = require('discord.js')",
      'const client = new Client({ intents: [GatewayIntentBits.Guilds] })',
      "process.on('message', (m) => { if (typeof m === 'string') globalThis.received = m })",
      'client.login()',
    ].join('\n')
    const run = await runAsDiscord(project('from-discordjs', new Map([['manager.mjs', manager], ['bot.js', bot]])), '^received: ')
    for (let i = 0; i < 4; i++) expect(run.out).toContain(`instance ${i} spawned: shards ${i}`)
    expect(run.out).toMatch(/^shard 2 guilds: 100$/m)
    expect(run.out).toContain('received: ["hello","hello","hello","hello"]')
    expect(run.stats.live).toEqual(['0/4', '1/4', '2/4', '3/4'])
    expect(run.stats.identifyCount).toBe(4)
    expect(run.stats.violations).toBe(0)
    expect(run.stats.duplicates).toBe(0)
  }, 120_000)
})

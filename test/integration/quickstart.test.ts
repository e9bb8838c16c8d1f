// The README's Quick start, run as written: its two code blocks become manager.mjs and bot.mjs in a
// folder where `npm install discordoo-sharding discord.js` has run (links to this checkout), and
// `node manager.mjs` runs with only DISCORD_TOKEN set, as the README says. Nothing in them points at
// a simulator, so the run happens in namespaces of its own (network, mount, pid) in which
// discord.com is 127.0.0.1 and the gateway simulator answers there over TLS
// (test/fixtures/quickstart-netns.mjs); the pid namespace ends every process with the run.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeCert, makeTempDir, removeDir, type MadeCert } from '../helpers/certs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DRIVER = join(ROOT, 'test/fixtures/quickstart-netns.mjs')

/** The Quick start's files: each ```js block under the README's "## Quick start", named by the `file` label before it. */
function quickStartFiles(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Quick start\n')
  const end = readme.indexOf('\n## ', start + 1)
  expect(start).toBeGreaterThan(0)
  const files = new Map<string, string>()
  for (const m of readme.slice(start, end).matchAll(/^`([\w.-]+)`[^\n]*\n\n```js\n([\s\S]*?)^```/gm)) files.set(m[1]!, m[2]!)
  return files
}

let dir: string
let cert: MadeCert
beforeAll(() => {
  dir = makeTempDir('dsm-quickstart-')
  mkdirSync(join(dir, 'node_modules'), { recursive: true })
  symlinkSync(ROOT, join(dir, 'node_modules/discordoo-sharding'))
  symlinkSync(join(ROOT, 'node_modules/discord.js'), join(dir, 'node_modules/discord.js'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-bot', private: true, dependencies: { 'discordoo-sharding': '*', 'discord.js': '*' } }))
  cert = makeCert(dir, 'discord.com', { sans: ['DNS:discord.com'], eku: 'serverAuth' })
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost discord.com\n::1 localhost\n')
})
afterAll(() => removeDir(dir))

describe('README Quick start', () => {
  it('holds manager.mjs and bot.mjs', () => {
    const files = quickStartFiles()
    expect([...files.keys()]).toEqual(['manager.mjs', 'bot.mjs'])
    expect(files.get('manager.mjs')).toContain("file: './bot.mjs'")
    expect(files.get('bot.mjs')).toContain('sharding.attach(client)')
  })

  it('runs as written: the manager asks discord.com for the shard count, the bot logs in, fetchClientValues answers', async () => {
    for (const [name, code] of quickStartFiles()) writeFileSync(join(dir, name), code)
    const config = JSON.stringify({ dir, certPath: cert.certPath, keyPath: cert.keyPath, simulator: join(ROOT, 'dist/simulator.js') })
    const env: NodeJS.ProcessEnv = { ...process.env }
    delete env.DISCORD_TOKEN
    delete env.DISCORD_API_BASE
    delete env.NODE_OPTIONS
    const script = `mount --bind "$1" /etc/hosts && ip link set lo up && exec "$2" "$3" "$4"`
    const proc = spawn('unshare', ['--net', '--mount', '--pid', '--fork', '--mount-proc', 'bash', '-c', script, 'quickstart', join(dir, 'hosts'), process.execPath, DRIVER, config], {
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
    const result = JSON.parse(line![1]!) as { how: string; out: string; stats: { identifyCount: number; violations: number; rest: Record<string, number>; duplicates: number; live: string[] } }
    expect(result.how, result.out).toBe('printed')
    // 'auto' asked discord.com's /gateway/bot once (4 shards), and the one instance of 4 shards answered with its guild count.
    expect(result.out).toContain('instance 0 ready: shards 0,1,2,3')
    expect(result.out).toMatch(/^\[ 400 \]$/m)
    expect(result.stats.live).toEqual(['0/4', '1/4', '2/4', '3/4'])
    expect(result.stats.identifyCount).toBe(4)
    expect(result.stats.violations).toBe(0)
    expect(result.stats.duplicates).toBe(0)
    // The bot's own ask was answered by the manager from its own (see "discord.js bots").
    expect(result.stats.rest['/gateway/bot']).toBe(1)
  }, 120_000)
})

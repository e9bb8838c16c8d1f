// The README's MACHINES walkthrough, run as written: examples/walkthrough/run.sh must hold every
// command of the README's Walkthrough, and must run to "walkthrough: OK" in a folder where
// `npm install discordoo-sharding discord.js` has run (here: links to this checkout, npm offline).
// It uses the README's fixed ports, so it runs in a network namespace of its own.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTempDir, removeDir } from '../helpers/certs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SCRIPT = join(ROOT, 'examples/walkthrough/run.sh')

/** The Walkthrough subsection of the README. */
function walkthroughSection(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('### Walkthrough')
  const end = readme.indexOf('\n### ', start + 1)
  expect(start).toBeGreaterThan(0)
  return readme.slice(start, end)
}

/** Code blocks of one language, without their indentation. */
function blocks(markdown: string, lang: string): string[] {
  return [...markdown.matchAll(new RegExp('^( *)```' + lang + '\\n([\\s\\S]*?)^\\1```', 'gm'))].map(([, indent, body]) =>
    body
      .split('\n')
      .map((l) => l.slice(indent.length))
      .join('\n'),
  )
}

/** Shell lines with `\` continuations joined and whitespace collapsed; comments and blanks dropped. */
function commands(shell: string): string[] {
  return shell
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => l && !l.startsWith('#'))
}

/** A script line without what only a script needs: its log redirection and `&`. */
function asTyped(line: string): string {
  return line.replace(/ > logs\/[\w.-]+ 2>&1 &$/, '')
}

let dir: string
beforeAll(() => {
  // What `npm install discordoo-sharding discord.js` leaves, pointing at this checkout.
  dir = makeTempDir('dsm-walkthrough-')
  mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true })
  symlinkSync(ROOT, join(dir, 'node_modules/discordoo-sharding'))
  symlinkSync(join(ROOT, 'node_modules/discord.js'), join(dir, 'node_modules/discord.js'))
  for (const bin of ['discordoo', 'discordoo-child']) symlinkSync(`../discordoo-sharding/dist/bin/${bin}.js`, join(dir, `node_modules/.bin/${bin}`))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-bot', private: true, dependencies: { 'discordoo-sharding': '*', 'discord.js': '*' } }))
})
afterAll(() => removeDir(dir))

describe('MACHINES walkthrough', () => {
  it('the script holds every command and the parent.json of the README', () => {
    const section = walkthroughSection()
    const script = readFileSync(SCRIPT, 'utf8')
    const scriptCommands = new Set(commands(script).map(asTyped))
    const readmeCommands = blocks(section, 'sh').flatMap(commands)
    expect(readmeCommands.length).toBeGreaterThanOrEqual(12)
    for (const command of readmeCommands) expect(scriptCommands.has(command), `README command not in run.sh:\n${command}`).toBe(true)
    // Every discordoo command of the script is one the README shows.
    for (const command of [...scriptCommands].filter((c) => c.startsWith('npx '))) expect(readmeCommands, `run.sh command not in the README:\n${command}`).toContain(command)

    const [json] = blocks(section, 'json')
    const heredoc = /cat > parent\.json <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(script)
    expect(heredoc, 'run.sh writes parent.json').not.toBeNull()
    expect(JSON.parse(heredoc![1])).toEqual(JSON.parse(json))
  })

  it('runs as written: simulator, two children through the CLI, the parent through --config, status, Ctrl-C', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
    delete env.DISCORD_TOKEN
    delete env.DISCORD_API_BASE
    const proc = spawn('unshare', ['--net', 'bash', '-c', `ip link set lo up && exec nice -n 10 bash ${SCRIPT}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout.on('data', (d) => (out += d))
    proc.stderr.on('data', (d) => (out += d))
    const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)))
    expect(code, out).toBe(0)
    expect(out).toMatch(/all 8 shards ready on 2 machines in [\d.]+ (ms|s); Ctrl-C stops them/)
    expect(out).toContain('machines · 8/8 shards ready · 2/2 instances ready')
    expect(out).toContain('ok: 8/8 shards ready')
    expect(out).toContain('discordoo_shards{state="ready"} 8')
    expect(out).toContain('SIGINT: stopping the shards on 2 machines; the children stay in standby for the next parent')
    expect(out).toContain('stopped: every shard on every child is stopped; the children are in standby')
    expect(out).toContain('walkthrough: OK')
    // The child's own log: its instance became ready with the shards the parent assigned.
    const logs = readFileSync(join(dir, 'logs/child-2.log'), 'utf8')
    expect(logs).toContain('instance 1 ready (shards 4,5,6,7)')
  }, 240_000)
})

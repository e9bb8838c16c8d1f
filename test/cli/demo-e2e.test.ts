// Runs the built CLI (dist/bin/discordoo.js) as a child process, as a user would.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../dist/bin/discordoo.js', import.meta.url))
const running = new Set<ChildProcess>()

interface Run {
  child: ChildProcess
  output: () => string
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
}

function cli(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let text = ''
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    text += chunk.toString()
    for (const l of listeners) l()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child)
      resolve({ code, signal })
    }),
  )
  return {
    child,
    output: () => text,
    exit,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = text.match(pattern)
          if (!m) return
          listeners.delete(check)
          clearTimeout(timer)
          resolve(m)
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${text}`))
        }, timeoutMs)
        listeners.add(check)
        check()
      })
    },
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function gone(pids: number[], timeoutMs = 5000): Promise<number[]> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end && pids.some(alive)) await new Promise((r) => setTimeout(r, 50))
  return pids.filter(alive)
}

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npx tsup\` (npm test builds first)`)
})

afterEach(() => {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
})

describe('discordoo demo (end to end)', () => {
  it('starts 4 shards against the simulator, shows progress, the table and a broadcastEval, and exits 0 after --duration', async () => {
    const run = cli(['demo', '--duration', '3', '--shards', '4', '--shards-per-instance', '2', '--max-concurrency', '4', '--window-ms', '500'])
    const { code } = await run.exit
    const out = run.output()
    expect(code, out).toBe(0)
    for (const shard of [0, 1, 2, 3]) expect(out).toMatch(new RegExp(`\\[\\+\\s*[\\d.]+s\\] shardReady\\s+shard ${shard} \\(instance ${shard < 2 ? 0 : 1}\\)`))
    expect(out).toMatch(/instanceSpawn\s+instance 0 · shards 0-1 · pid \d+/)
    expect(out).toMatch(/instanceReady\s+instance 1 · shards 2-3/)
    expect(out).toMatch(/shardReady\s+shard \d \(instance \d\) · 4\/4/)
    expect(out).toMatch(/all 4 shards ready in [\d.]+ (ms|s); physical floor \(ceil\(4\/4\)-1\) × 500 ms = 0 ms/)
    expect(out).toContain('broadcastEval((client) => client.guilds.cache.size) → [200,200]')
    expect(out).toContain('400 guilds over 2 instances')
    expect(out).toContain('simulator: 4 IDENTIFYs accepted · 0 identify-window violations · 0 duplicate sessions')
    expect(out).toContain('processes · 4/4 shards ready · 2/2 instances ready')
    expect(out).toMatch(/\n\s+total\s+2\/2 ready\s+4\/4\s+4 ready/)
    expect(out).toContain('stopping (--duration 3 s elapsed)')
    expect(out).toMatch(/stopped cleanly in [\d.]+ (ms|s): 2 instances, 4 shards; simulator saw 4 IDENTIFYs, 0 violations/)
    expect(out).not.toContain('\x1b[') // not a terminal: no redraw codes
    const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
    expect(pids.length).toBeGreaterThanOrEqual(2)
    expect(await gone(pids)).toEqual([])
  })

  it('stops cleanly on SIGTERM (worker threads) and exits 0', async () => {
    const run = cli(['demo', '--shards', '2', '--shards-per-instance', '1', '--mode', 'workers', '--window-ms', '200'])
    await run.waitFor(/broadcastEval.*→ \[\d+,\d+\]/)
    await run.waitFor(/total\s+2\/2 ready/)
    run.child.kill('SIGTERM')
    const { code } = await run.exit
    const out = run.output()
    expect(code, out).toBe(0)
    expect(out).toMatch(/instanceSpawn\s+instance 1 · shards 1 · thread \d+/)
    expect(out).toContain('stopping (SIGTERM)')
    expect(out).toContain('stopped cleanly')
  })
})

describe('discordoo simulator (end to end)', () => {
  it('serves /gateway/bot until SIGTERM, then exits 0', async () => {
    const run = cli(['simulator', '--port', '0', '--guilds', '30', '--max-concurrency', '16', '--token', 'cli-e2e'])
    const [, restUrl] = await run.waitFor(/REST:\s+(http:\/\/\S+\/api)/)
    const res = await fetch(`${restUrl}/v10/gateway/bot`, { headers: { Authorization: 'Bot cli-e2e' } })
    const body = (await res.json()) as { session_start_limit: { max_concurrency: number } }
    expect(body.session_start_limit.max_concurrency).toBe(16)
    run.child.kill('SIGTERM')
    expect((await run.exit).code).toBe(0)
  })

  it('says in one line that a busy port is busy (no raw EADDRINUSE) and exits 1', async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
    const port = (blocker.address() as { port: number }).port
    try {
      const run = cli(['simulator', '--port', String(port)])
      const { code } = await run.exit
      expect(code).toBe(1)
      expect(run.output()).toBe(`discordoo simulator: --port ${port}: 127.0.0.1:${port} is already in use (another simulator?); choose another --port, or --port 0 for any free port\n`)
    } finally {
      blocker.close()
    }
  })

  it('rejects a bad flag with one line and a non-zero exit', async () => {
    const run = cli(['simulator', '--port', '0', '--max-concurrency', '0'])
    const { code } = await run.exit
    expect(code).toBe(2)
    expect(run.output()).toBe('discordoo simulator: error: --max-concurrency: must be an integer between 1 and 1024, got 0 (see discordoo simulator --help)\n')
  })
})

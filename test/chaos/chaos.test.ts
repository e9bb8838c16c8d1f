// The 60-second chaos run (`npm run chaos` is the 10-minute one): the harness runs as a plain child
// process, as a user's script would, in its own process group so that nothing it started can
// outlive the test even if the harness itself hangs.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const CHAOS = fileURLToPath(new URL('../../bench/chaos.mjs', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'dsm-chaos-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs the harness; kills its whole process group if it overruns `limitMs`. */
function runChaos(args: string[], limitMs: number): Promise<{ code: number | null; output: string; overran: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHAOS, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout!.setEncoding('utf8').on('data', (d) => (output += d))
    child.stderr!.setEncoding('utf8').on('data', (d) => (output += d))
    let overran = false
    const timer = setTimeout(() => {
      overran = true
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
    }, limitMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output, overran })
    })
  })
}

describe('chaos suite (60 s)', () => {
  it('keeps every call on time with the right error, recovers from every fault, and leaves nothing behind', async () => {
    const json = join(dir, 'chaos.json')
    // The harness caps itself at 2 × duration + 120 s; the group kill is only the last resort.
    const { code, output, overran } = await runChaos(['--duration', '60s', '--json', json], 280_000)
    expect(overran, `the harness overran its limit:\n${output.slice(-4000)}`).toBe(false)
    const summary = JSON.parse(readFileSync(json, 'utf8'))
    const failed = summary.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { name: string; detail: string }) => `${c.name}: ${c.detail}`)
    expect(failed, output.slice(output.indexOf('### Chaos run'))).toEqual([])
    expect(code).toBe(0)
    // It really was chaos: every kind of fault happened and traffic flowed.
    for (const f of Object.values(summary.faults) as { injected: number; planned: number }[]) expect(f.injected).toBeGreaterThanOrEqual(f.planned)
    expect(summary.calls.total.ok).toBeGreaterThan(100)
  }, 300_000)
})

// WORKERS mode: V8's early optimization of small functions is off while the manager's workers run
// (src/modes/early-optimization.ts); the flag is the process's, so the manager runs in a plain child
// process (test/integration/early-optimization-workers.mjs).
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { EARLY_OPT_FLAG, earlyOptBlocker } from '../../src/modes/early-optimization.js'

function node(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }))),
  )
}

describe('V8\'s early optimization of small functions in WORKERS mode', () => {
  it('this Node\'s V8 knows the flag, and it is one the manager sets it on', async () => {
    const { stderr } = await node([`${EARLY_OPT_FLAG}=0`, '-e', '0'])
    expect(stderr).toBe('')
    expect(earlyOptBlocker([], '')).toBeNull()
  })

  it('is switched off by the first worker and restored when the last one exits; not with the option off', async () => {
    const { stdout } = await node([fileURLToPath(new URL('./early-optimization-workers.mjs', import.meta.url))])
    const r = JSON.parse(stdout.trim().split('\n').pop()!)
    // two workers, one switch: the first share sets it, the last one given back (at stop) restores V8's 81
    expect(r.on).toEqual({
      whileRunning: [`${EARLY_OPT_FLAG}=0`],
      afterStop: [`${EARLY_OPT_FLAG}=0`, `${EARLY_OPT_FLAG}=81`],
      debug: [`V8's early optimization of small functions is off while the workers run (${EARLY_OPT_FLAG}=0)`],
    })
    expect(r.off).toEqual({ whileRunning: [], afterStop: [], debug: [] })
  })
})

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

  it('is switched off while the workers run and none boots, and restored when the last one exits; not with the option off', async () => {
    const { stdout } = await node([fileURLToPath(new URL('./early-optimization-workers.mjs', import.meta.url))])
    const r = JSON.parse(stdout.trim().split('\n').pop()!)
    const off = `${EARLY_OPT_FLAG}=0`
    const restored = `${EARLY_OPT_FLAG}=81`
    // each worker started booting under V8's default, however the two boots interleaved
    expect(r.on.atSpawn).toHaveLength(2)
    expect(r.on.atSpawn.every((flag: string) => flag !== off)).toBe(true)
    // once every worker is ready, it is set; it alternates, and the last exit restores V8's default
    expect(r.on.whileRunning.at(-1)).toBe(off)
    expect(r.on.afterStop.at(-1)).toBe(restored)
    expect(r.on.afterStop).toEqual(r.on.afterStop.map((_: string, i: number) => (i % 2 === 0 ? off : restored)))
    expect(r.on.debug).toEqual([`V8's early optimization of small functions is off while the workers run and none is booting (${off})`])
    expect(r.off).toEqual({ atSpawn: ['default', 'default'], whileRunning: [], afterStop: [], debug: [] })
  })
})

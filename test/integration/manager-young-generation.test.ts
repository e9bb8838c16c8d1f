// PROCESSES mode: the manager's own young generation grows faster while its instance processes run
// (src/modes/manager-young-generation.ts); the flag is the process's, so the manager runs in a plain
// child process (test/integration/manager-young-generation.mjs).
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { GROWTH_FLAG, V8_GROWTH_DEFAULT } from '../../src/modes/manager-young-generation.js'

function node(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }))),
  )
}

describe("the manager's young generation in PROCESSES mode", () => {
  it("this Node's V8 takes the flag at run time without complaint", async () => {
    const { stderr } = await node(['-e', `require('node:v8').setFlagsFromString('${GROWTH_FLAG}=4')`])
    expect(stderr).toBe('')
  })

  it('grows faster from the start until the stop, which restores V8\'s default; not with the option null, nor in WORKERS mode', async () => {
    const { stdout } = await node([fileURLToPath(new URL('./manager-young-generation.mjs', import.meta.url))])
    const r = JSON.parse(stdout.trim().split('\n').pop()!)
    const on = `${GROWTH_FLAG}=4`
    expect(r.on.atSpawn).toEqual([on])
    expect(r.on.whileRunning).toEqual([on])
    expect(r.on.evals).toEqual([1, 1])
    expect(r.on.afterStop).toEqual([on, `${GROWTH_FLAG}=${V8_GROWTH_DEFAULT}`])
    expect(r.on.debug).toEqual([`the manager's young generation grows 4× at a time while its instance processes run (${on})`])
    expect(r.off).toMatchObject({ atSpawn: [], whileRunning: [], afterStop: [], debug: [] })
    expect(r.workers).toMatchObject({ atSpawn: [], whileRunning: [], afterStop: [], debug: [] })
  })
})

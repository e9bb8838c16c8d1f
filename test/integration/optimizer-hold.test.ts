// V8's optimizing compiler is held while an instance's client file resolves its imports
// (src/runtime/optimizer-hold.ts). The fixture asks V8 itself (natives syntax) whether a function can
// be optimized before and after its first CommonJS load.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { fixture, makeManager, stopAll } from '../helpers/manager.js'

afterEach(stopAll)

async function probe(options: Record<string, unknown>) {
  const manager = makeManager({ file: fixture('optimizer-hold-client.mjs'), mode: 'processes', shards: 1, execArgv: ['--allow-natives-syntax'], ...options })
  const debug: string[] = []
  manager.on('debug', (line: string) => debug.push(line))
  await manager.start()
  const [result] = (await manager.broadcastEval(() => (globalThis as { probe?: unknown }).probe)) as { beforeCommonJs: boolean; afterCommonJs: boolean }[]
  return { result, held: debug.filter((l) => l.includes('optimizing compiler was held')) }
}

describe('the optimizer hold during an instance\'s imports', () => {
  it('holds V8\'s optimizer until the first CommonJS load, then gives it back, and says so in debug', async () => {
    const { result, held } = await probe({})
    expect(result).toEqual({ beforeCommonJs: false, afterCommonJs: true })
    expect(held).toHaveLength(1)
    expect(held[0]).toMatch(/instance 0: V8's optimizing compiler was held for \d+ ms .*released at the first CommonJS load \(.*optimizer-hold-dep\.cjs\)/)
  })

  it('is off with holdOptimizerDuringImports: false, and when the instance\'s flags set the optimizer', async () => {
    expect(await probe({ holdOptimizerDuringImports: false })).toEqual({ result: { beforeCommonJs: true, afterCommonJs: true }, held: [] })
    await stopAll()
    // the user's own choice of optimizer flags wins (here: one that changes nothing for this probe)
    expect(await probe({ execArgv: ['--allow-natives-syntax', '--max-optimized-bytecode-size=61440'] })).toEqual({ result: { beforeCommonJs: true, afterCommonJs: true }, held: [] })
  })
})

describe('the optimizer hold in WORKERS mode (one for the whole process)', () => {
  it('holds every thread while a worker resolves its imports, and a worker that dies first gives its share back', async () => {
    // V8's flags are the process's: natives syntax must be on for the manager's whole process, so the
    // manager runs in a plain child process (test/integration/optimizer-hold-workers.mjs).
    const script = fileURLToPath(new URL('./optimizer-hold-workers.mjs', import.meta.url))
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile(process.execPath, ['--allow-natives-syntax', script], { timeout: 60_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout }),
      ),
    )
    const r = JSON.parse(stdout.trim().split('\n').pop()!)
    // the worker could not optimize before its first CommonJS load, could after; the manager's thread too
    expect(r.on).toEqual({ result: { beforeCommonJs: false, afterCommonJs: true }, held: 1, managerAfter: true })
    expect(r.off).toEqual({ result: { beforeCommonJs: true, afterCommonJs: true }, held: 0, managerAfter: true })
    // held on the manager's thread from the spawn; given back when the worker died before its first CommonJS load
    expect(r.dies).toEqual({ managerAtSpawn: false, managerAfterDeath: true })
  })
})

// PROCESSES mode sets its speed-only V8 flag (the young generation's growth factor) from the preloaded
// runtime, after loading the built-in modules discord.js uses, so that Node still compiles those from
// its code cache (src/runtime/v8-tuning.ts). Node says per module whether its cache was used
// (NODE_DEBUG_NATIVE=CODE_CACHE, on the instance's stderr), so the manager runs in a plain child process
// whose stderr the test reads.
import { execFile, execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { DISCORDJS_BUILTINS } from '../../src/runtime/v8-tuning.js'
import pkg from '../../package.json' with { type: 'json' }

const script = fileURLToPath(new URL('./v8-tuning-manager.mjs', import.meta.url))

function run(options: Record<string, unknown>): Promise<{ out: { debug: string[]; execArgv: string[] }; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [script, JSON.stringify(options)], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr.slice(-2000)}`)) : resolve({ out: JSON.parse(stdout.trim().split('\n').pop()!), stderr }),
    ),
  )
}

/** What Node said about a built-in module's code cache in the instance: 'accepted', 'rejected' or undefined. */
function cacheOf(stderr: string, id: string): string | undefined {
  return new RegExp(`Code cache of ${id.replace('/', '\\/')} \\(\\w+\\) is (accepted|rejected)`).exec(stderr)?.[1]
}

describe('speed-only V8 flags set by the instance runtime', () => {
  it('sets the growth factor after loading discord.js\'s built-ins, which Node then compiles from its cache', async () => {
    const { out, stderr } = await run({})
    expect(out.debug).toHaveLength(1)
    expect(out.debug[0]).toMatch(/instance 0: V8 flags set at start: --semi-space-growth-factor=4 \(after loading the 13 built-in modules discord\.js uses/)
    expect(out.execArgv.some((a) => a.startsWith('--semi-space-growth-factor'))).toBe(false)
    // (only the instance has NODE_DEBUG_NATIVE set, so every line is the instance's)
    for (const id of ['http2', 'tls', 'zlib', 'dns', 'worker_threads']) expect(cacheOf(stderr, id), id).toBe('accepted')
  })

  it('on the command line, the same flag costs the cache (why the runtime sets it)', async () => {
    const { out, stderr } = await run({ semiSpaceGrowthFactor: null, execArgv: ['--semi-space-growth-factor=4'] })
    expect(out.debug).toEqual([])
    // worker_threads is loaded by the runtime itself, before the client file
    expect(cacheOf(stderr, 'worker_threads')).toBe('rejected')
  })

  it('every discord.js version installed here loads each of those built-in modules itself', () => {
    const versions = ['discord.js', ...Object.keys(pkg.devDependencies).filter((d) => d.startsWith('discord.js-'))]
    expect(versions.length).toBeGreaterThanOrEqual(2)
    for (const name of versions) {
      const loaded = JSON.parse(
        execFileSync(process.execPath, ['-e', `require(${JSON.stringify(name)}); console.log(JSON.stringify(process.moduleLoadList))`], { cwd: fileURLToPath(new URL('../..', import.meta.url)) }).toString(),
      ) as string[]
      const missing = DISCORDJS_BUILTINS.filter((id) => !loaded.includes(`NativeModule ${id}`))
      expect(missing, `${name} no longer loads these at require(); drop them from DISCORDJS_BUILTINS (src/runtime/v8-tuning.ts)`).toEqual([])
    }
  }, 60_000)
})

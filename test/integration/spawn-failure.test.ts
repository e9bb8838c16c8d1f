/**
 * A fork that fails (EMFILE, EAGAIN) emits 'error' and never 'exit'. The manager must see it as
 * an exit with that error, apply its restart policy, give up, reject start() and let the script end.
 */
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ProcessDriver } from '../../src/modes/processes.js'
import type { ChildExit } from '../../src/modes/driver.js'

const script = fileURLToPath(new URL('./spawn-failure-manager.mjs', import.meta.url))

describe('a fork that fails', () => {
  it('is reported, retried per the restart policy, given up; start() rejects and the script exits by itself', async () => {
    // A small descriptor limit keeps the filling quick; the script then takes the rest.
    const child = spawn('/bin/sh', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${script}"`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d))
    const hung = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])))
    clearTimeout(hung)
    expect({ code, signal, err }).toEqual({ code: 0, signal: null, err: '' })
    const r = JSON.parse(out.trim().split('\n').pop()!)
    expect(r.held).toBeGreaterThan(0)
    expect(r.start.ok).toBe(false)
    expect(r.start.code).toBe('GAVE_UP')
    expect(r.state).toEqual(['gaveUp'])
    expect(r.stopped).toBe(true) // stop() settled too
    const deaths = r.seen.filter((e: any) => e.event === 'instanceDeath')
    // restarts.max = 2: the first attempt and two restarts, each reported once
    expect(deaths).toHaveLength(3)
    for (const d of deaths) expect(d.reason).toMatch(/spawn .* EMFILE/)
    const crashes = r.seen.filter((e: any) => e.event === 'error' && e.code === 'INSTANCE_CRASHED')
    expect(crashes).toHaveLength(3)
    expect(crashes[0].message).toContain('EMFILE')
    expect(r.seen.filter((e: any) => e.event === 'instanceRespawn')).toHaveLength(2)
    expect(r.seen.filter((e: any) => e.event === 'instanceGaveUp')).toEqual([{ event: 'instanceGaveUp', reason: 'restarts' }])
    expect(r.seen.at(-1)).toEqual({ event: 'instanceGaveUp', reason: 'restarts' })
  })
})

/** A stand-in for what `fork` returns when the spawn itself fails, emitting as Node does. */
function failingFork(errno: number, code: string): { fork: any; children: ChildProcess[] } {
  const children: ChildProcess[] = []
  const fork = () => {
    const child = new EventEmitter() as ChildProcess & { exitCode: number | null; pid: number | undefined }
    Object.assign(child, { pid: undefined, exitCode: null, signalCode: null, connected: false })
    children.push(child)
    process.nextTick(() => {
      // Node's onErrorNT: exitCode becomes the negative errno, then 'error', and no 'exit'.
      child.exitCode = errno
      child.emit('error', Object.assign(new Error(`spawn node ${code}`), { code, errno, syscall: 'spawn node' }))
    })
    return child
  }
  return { fork, children }
}

const spec = { file: 'bot.mjs', env: {}, execArgv: [], args: [] }

describe('ProcessDriver with an injected fork', () => {
  it('reports a failed fork as an exit with the error, exactly once', async () => {
    const { fork } = failingFork(-24, 'EMFILE')
    const handle = new ProcessDriver(fork).spawn(spec)
    expect(handle.pid).toBe(-1)
    const exits: ChildExit[] = []
    handle.onExit((e) => exits.push(e))
    await new Promise((r) => setImmediate(r))
    expect(exits).toHaveLength(1)
    expect(exits[0]!.code).toBe(null)
    expect((exits[0]!.error as NodeJS.ErrnoException).code).toBe('EMFILE')
    handle.kill() // must not throw on a process that never existed
    expect(handle.send({})).toBe(false)
  })

  it('delivers the failure to a subscriber that arrives after it', async () => {
    const { fork } = failingFork(-11, 'EAGAIN')
    const handle = new ProcessDriver(fork).spawn(spec)
    await new Promise((r) => setImmediate(r))
    const exit = await new Promise<ChildExit>((resolve) => handle.onExit(resolve))
    expect((exit.error as NodeJS.ErrnoException).code).toBe('EAGAIN')
  })

  it("an 'error' of a running process (failed kill or send) is not an exit; its 'exit' is, once", async () => {
    const children: any[] = []
    const fork = () => {
      const child = Object.assign(new EventEmitter(), { pid: 4242, exitCode: null, signalCode: null, connected: true })
      children.push(child)
      return child
    }
    const handle = new ProcessDriver(fork as any).spawn(spec)
    const exits: ChildExit[] = []
    handle.onExit((e) => exits.push(e))
    children[0].emit('error', new Error('kill ESRCH'))
    expect(exits).toHaveLength(0)
    children[0].exitCode = 1
    children[0].emit('exit', 1, null)
    children[0].emit('exit', 1, null)
    expect(exits).toEqual([{ code: 1, signal: null }])
  })
})

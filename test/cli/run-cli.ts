/** Runs a built CLI (dist/bin/*.js) as its own process, as a user would, and waits on its output. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const DISCORDOO_BIN = fileURLToPath(new URL('../../dist/bin/discordoo.js', import.meta.url))
export const CHILD_CLI_BIN = fileURLToPath(new URL('../../dist/bin/discordoo-child.js', import.meta.url))

export interface CliRun {
  child: ChildProcess
  output(): string
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves with the first match of `pattern` in stdout+stderr; rejects if the process exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
}

const running = new Set<ChildProcess>()

export function runCli(bin: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliRun {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd })
  running.add(child)
  let text = ''
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    text += chunk.toString()
    for (const l of [...listeners]) l()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  let exited = false
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = true
      running.delete(child)
      for (const l of [...listeners]) l()
      resolve({ code, signal })
    }),
  )
  return {
    child,
    output: () => text,
    exit,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = text.match(pattern)
          if (!m && !exited) return
          listeners.delete(check)
          clearTimeout(timer)
          if (m) resolve(m)
          else reject(new Error(`exited before ${pattern}; output:\n${text}`))
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

/** SIGKILLs whatever a failed test left running. */
export function killLeftovers(): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/**
 * What a mode does: start one instance and hand back a uniform handle. PROCESSES forks a child
 * process, WORKERS starts a worker thread; everything above this line is mode-agnostic.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export interface SpawnSpec {
  file: string
  /** Variables added to the instance's environment (sharding context, discord.js variables, user env). */
  env: Record<string, string>
  execArgv: string[]
  args: string[]
  /**
   * WORKERS mode: take this worker's share of the process's optimizer hold (src/runtime/optimizer-hold.ts).
   * PROCESSES mode reads its own from the instance context instead.
   */
  holdOptimizer?: boolean
  /** WORKERS mode: take this worker's share of early optimization switched off (src/modes/early-optimization.ts). */
  deferSmallFunctionOptimization?: boolean
}

export interface ChildExit {
  code: number | null
  signal: string | null
  /** An error the instance died of, when the mode reports one (a worker's uncaught error). */
  error?: Error
}

export interface ChildHandle {
  readonly pid: number
  readonly threadId: number | null
  /** Our protocol (envelopes), which only the instance runtime reads. Returns false when the channel is already closed. */
  send(msg: unknown): boolean
  /**
   * The channel the bot's own code and discord.js's ShardClientUtil listen on (`process.on('message')`,
   * `parentPort`): discord.js's protocol and `manager.send()` to a bot without ShardingClient. Our
   * envelopes never reach those listeners, as under discord.js's own manager.
   */
  sendShared(msg: unknown): boolean
  /** Immediate, ungraceful stop (SIGKILL / worker.terminate()). */
  kill(): void
  onMessage(fn: (msg: unknown) => void): void
  /** Called exactly once. */
  onExit(fn: (exit: ChildExit) => void): void
  /** The instance is ready: its boot (the client file's imports, its login) is over. */
  booted?(): void
}

export interface InstanceDriver {
  readonly mode: 'processes' | 'workers'
  spawn(spec: SpawnSpec): ChildHandle
}

/**
 * Finds a file of the built runtime (dist/runtime/…) from wherever this code was bundled:
 * dist/index.js, dist/bin/*.js, or src/ when running from source in tests.
 */
export function runtimeFile(name: string): string {
  const candidates = ['./runtime/', '../runtime/', '../../dist/runtime/']
  for (const dir of candidates) {
    const path = fileURLToPath(new URL(dir + name, import.meta.url))
    if (existsSync(path)) return path
  }
  throw new Error(`cannot find the instance runtime file ${name} next to ${import.meta.url}; run \`npm run build\``)
}

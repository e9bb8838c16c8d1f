import { fileURLToPath } from 'node:url'
import { ShardingManager } from '../../dist/index.js'

export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

const live = new Set<ShardingManager>()

/** A manager with fast test timings; stopped by stopAll() in afterEach. */
export function makeManager(options: Record<string, unknown>): ShardingManager {
  const manager = new ShardingManager({
    file: fixture('basic-client.mjs'),
    identify: { windowMs: 100, marginMs: 0 },
    restarts: { baseDelay: 50, maxDelay: 200 },
    timeouts: { kill: 2000 },
    ...options,
  } as never)
  manager.on('error', () => {})
  live.add(manager)
  return manager
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((m) => m.stop()))
  live.clear()
}

/** Resolves with the first matching event's first argument (unlike events.once, an 'error' event does not reject it). */
export function nextEvent<T = unknown>(emitter: NodeJS.EventEmitter, name: string, filter: (...args: any[]) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const listener = (...args: any[]) => {
      if (!filter(...args)) return
      emitter.off(name, listener)
      resolve(args[0] as T)
    }
    emitter.on(name, listener)
  })
}

/** Resolves when the process no longer exists (polls the kernel; the event we wait for has no callback). */
export async function processGone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  return false
}

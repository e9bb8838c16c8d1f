/** WORKERS mode: each instance is a worker thread of the manager's process. */
import { Worker } from 'node:worker_threads'
import type { ChildExit, ChildHandle, InstanceDriver, SpawnSpec } from './driver.js'
import { runtimeFile } from './driver.js'

export class WorkerDriver implements InstanceDriver {
  readonly mode = 'workers' as const
  private readonly entry = runtimeFile('worker-entry.js')

  spawn(spec: SpawnSpec): ChildHandle {
    const env = { ...process.env, ...spec.env }
    const worker = new Worker(this.entry, {
      // Each worker gets its own env copy (not SHARE_ENV), so its sharding variables are its own.
      env,
      // discord.js reads SHARDS / SHARD_COUNT from workerData when it is set.
      workerData: { ...spec.env, SHARDING_MANAGER: true },
      execArgv: spec.execArgv,
      argv: spec.args,
    })
    let error: Error | undefined
    let exited = false
    const exitHandlers: ((e: ChildExit) => void)[] = []
    worker.on('error', (err) => {
      error = err
    })
    worker.on('exit', (code) => {
      if (exited) return
      exited = true
      for (const fn of exitHandlers) fn({ code, signal: null, error })
    })
    return {
      pid: process.pid,
      threadId: worker.threadId,
      send: (msg) => {
        if (exited) return false
        worker.postMessage(msg)
        return true
      },
      kill: () => void worker.terminate(),
      onMessage: (fn) => void worker.on('message', fn),
      onExit: (fn) => void exitHandlers.push(fn),
    }
  }
}

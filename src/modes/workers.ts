/** WORKERS mode: each instance is a worker thread of the manager's process. */
import { setFlagsFromString } from 'node:v8'
import { Worker } from 'node:worker_threads'
import { giveBackSharedHold, OPTIMIZER_HOLD_MAX_MS, SHARED_HOLD_KEY, takeSharedHold } from '../runtime/optimizer-hold.js'
import type { ChildExit, ChildHandle, InstanceDriver, SpawnSpec } from './driver.js'
import { runtimeFile } from './driver.js'

/**
 * The number of optimizer-hold shares not given back, for the whole process: V8's flags are the
 * process's, so every manager in it (and a second copy of this library) must count together.
 */
function processHoldCount(): Int32Array {
  const key = Symbol.for('discordoo-sharding.optimizerHolds')
  const g = globalThis as { [key]?: Int32Array }
  return (g[key] ??= new Int32Array(new SharedArrayBuffer(4)))
}

export class WorkerDriver implements InstanceDriver {
  readonly mode = 'workers' as const
  private readonly entry = runtimeFile('worker-entry.js')

  spawn(spec: SpawnSpec): ChildHandle {
    const env = { ...process.env, ...spec.env }
    // The worker's share of the optimizer hold (src/runtime/optimizer-hold.ts): taken here, before the
    // worker runs; given back by the worker at its first CommonJS load, or here when it exits first
    // or does not get there within the hold's limit (a worker whose event loop is blocked cannot).
    const hold = spec.holdOptimizer ? takeSharedHold(processHoldCount(), setFlagsFromString) : null
    const giveBack = () => void (hold && giveBackSharedHold(hold, setFlagsFromString))
    let worker: Worker
    try {
      worker = new Worker(this.entry, {
        // Each worker gets its own env copy (not SHARE_ENV), so its sharding variables are its own.
        env,
        // discord.js reads SHARDS / SHARD_COUNT from workerData when it is set.
        workerData: { ...spec.env, SHARDING_MANAGER: true, ...(hold ? { [SHARED_HOLD_KEY]: hold } : {}) },
        execArgv: spec.execArgv,
        argv: spec.args,
      })
    } catch (err) {
      giveBack()
      throw err
    }
    if (hold) setTimeout(giveBack, OPTIMIZER_HOLD_MAX_MS).unref()
    let error: Error | undefined
    let exited = false
    const exitHandlers: ((e: ChildExit) => void)[] = []
    worker.on('error', (err) => {
      error = err
    })
    worker.on('exit', (code) => {
      giveBack()
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

/** WORKERS mode: each instance is a worker thread of the manager's process. */
import { setFlagsFromString } from 'node:v8'
import { MessageChannel, Worker } from 'node:worker_threads'
import { PROTOCOL_PORT_KEY } from '../runtime/channel.js'
import { giveBackSharedHold, OPTIMIZER_HOLD_MAX_MS, SHARED_HOLD_KEY, takeSharedHold } from '../runtime/optimizer-hold.js'
import { takeEarlyOptShare } from './early-optimization.js'
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
    // Its share of V8's early optimization switched off (src/modes/early-optimization.ts): booting until
    // ready, given back when it exits.
    const earlyOpt = spec.deferSmallFunctionOptimization ? takeEarlyOptShare(setFlagsFromString) : null
    const giveBack = () => void (hold && giveBackSharedHold(hold, setFlagsFromString))
    // Our protocol has a port of its own: parentPort stays what it is under discord.js's manager, the
    // channel of discord.js's ShardClientUtil and of the bot's own listeners, which never see our envelopes.
    const { port1: protocol, port2: instancePort } = new MessageChannel()
    let worker: Worker
    try {
      worker = new Worker(this.entry, {
        // Each worker gets its own env copy (not SHARE_ENV), so its sharding variables are its own.
        env,
        // discord.js reads SHARDS / SHARD_COUNT from workerData when it is set.
        workerData: { ...spec.env, SHARDING_MANAGER: true, [PROTOCOL_PORT_KEY]: instancePort, ...(hold ? { [SHARED_HOLD_KEY]: hold } : {}) },
        transferList: [instancePort],
        execArgv: spec.execArgv,
        argv: spec.args,
      })
    } catch (err) {
      giveBack()
      earlyOpt?.release()
      protocol.close()
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
      earlyOpt?.release()
      protocol.close()
      if (exited) return
      exited = true
      for (const fn of exitHandlers) fn({ code, signal: null, error })
    })
    return {
      pid: process.pid,
      threadId: worker.threadId,
      send: (msg) => {
        if (exited) return false
        protocol.postMessage(msg)
        return true
      },
      sendShared: (msg) => {
        if (exited) return false
        worker.postMessage(msg)
        return true
      },
      kill: () => void worker.terminate(),
      booted: () => earlyOpt?.booted(),
      onMessage: (fn) => {
        protocol.on('message', fn)
        // (after the listener, which refs the port) The worker keeps the process alive while it runs; its port need not.
        protocol.unref()
        worker.on('message', fn)
      },
      onExit: (fn) => void exitHandlers.push(fn),
    }
  }
}

/** PROCESSES mode: each instance is a child process forked with a JSON IPC channel. */
import { fork as nodeFork, type ChildProcess } from 'node:child_process'
import type { ChildExit, ChildHandle, InstanceDriver, SpawnSpec } from './driver.js'
import { runtimeFile } from './driver.js'

/** The subset of `child_process.fork` the driver uses (injectable so tests can make it fail). */
export type ForkFunction = (file: string, args: readonly string[], options: Parameters<typeof nodeFork>[2]) => ChildProcess

export class ProcessDriver implements InstanceDriver {
  readonly mode = 'processes' as const
  private readonly preload = runtimeFile('process-preload.cjs')

  constructor(private readonly fork: ForkFunction = nodeFork) {}

  spawn(spec: SpawnSpec): ChildHandle {
    const child = this.fork(spec.file, spec.args, {
      env: { ...process.env, ...spec.env },
      // The runtime preload runs before the client file, so heartbeats, crash reports and orphan
      // exit work even for a bot that never imports this package.
      execArgv: [...process.execArgv.filter((a) => !a.startsWith('--inspect')), ...spec.execArgv, '--require', this.preload],
      // JSON is the fastest channel for plain objects; rich values use our own codec on top.
      serialization: 'json',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    let exited = false
    const exitHandlers: ((e: ChildExit) => void)[] = []
    // Buffered so an exit reported before anyone subscribed (a fork failing at once) still arrives.
    let exitInfo: ChildExit | null = null
    const finish = (exit: ChildExit) => {
      if (exited) return
      exited = true
      exitInfo = exit
      for (const fn of exitHandlers.splice(0)) fn(exit)
    }
    child.on('exit', (code, signal) => finish({ code, signal }))
    child.on('error', (error) => {
      // A fork that failed (EMFILE, EAGAIN, ENOMEM...) has no pid and emits 'error' instead of
      // 'exit'; Node has already stored the negative errno in exitCode by then. Any other 'error'
      // (a failed kill or send) belongs to a live process whose 'exit' is still to come.
      if (spawnFailed(child)) finish({ code: null, signal: null, error })
    })
    const send = (msg: unknown): boolean => {
      if (!child.connected) return false
      // No callback (it would cost a nextTick per message): a failed send is an 'error' event,
      // which the listener above ignores for a live process; its 'exit' drives the cleanup.
      child.send(msg as never)
      return true
    }
    return {
      pid: child.pid ?? -1,
      threadId: null,
      // One IPC channel for both: the instance runtime keeps our envelopes from the bot's listeners (src/runtime/channel.ts).
      send,
      sendShared: send,
      kill: () => {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      },
      onMessage: (fn) => void child.on('message', fn),
      onExit: (fn) => {
        if (exitInfo) queueMicrotask(() => fn(exitInfo!))
        else exitHandlers.push(fn)
      },
    }
  }
}

function spawnFailed(child: ChildProcess): boolean {
  return child.pid === undefined || (typeof child.exitCode === 'number' && child.exitCode < 0)
}

/** PROCESSES mode: each instance is a child process forked with a JSON IPC channel. */
import { fork } from 'node:child_process'
import type { ChildExit, ChildHandle, InstanceDriver, SpawnSpec } from './driver.js'
import { runtimeFile } from './driver.js'

export class ProcessDriver implements InstanceDriver {
  readonly mode = 'processes' as const
  private readonly preload = runtimeFile('process-preload.cjs')

  spawn(spec: SpawnSpec): ChildHandle {
    const child = fork(spec.file, spec.args, {
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
    const finish = (exit: ChildExit) => {
      if (exited) return
      exited = true
      for (const fn of exitHandlers) fn(exit)
    }
    child.on('exit', (code, signal) => finish({ code, signal }))
    child.on('error', (error) => {
      // 'error' without 'exit' happens when the fork itself failed.
      if (child.exitCode === null && child.pid === undefined) finish({ code: null, signal: null, error })
    })
    return {
      pid: child.pid ?? -1,
      threadId: null,
      send: (msg) => {
        if (!child.connected) return false
        child.send(msg as never, (err) => {
          if (err) {
            // The child is exiting; its 'exit' event drives the cleanup.
          }
        })
        return true
      },
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      },
      onMessage: (fn) => void child.on('message', fn),
      onExit: (fn) => void exitHandlers.push(fn),
    }
  }
}

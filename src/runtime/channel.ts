/**
 * The instance's side of the manager channel: process IPC (JSON serialization) in PROCESSES mode,
 * the worker's parentPort in WORKERS mode. Same two calls either way.
 */
import { parentPort } from 'node:worker_threads'

export interface ManagerChannel {
  /** False when the manager side is gone and the message was not sent. */
  send(msg: unknown): boolean
  onMessage(handler: (msg: unknown) => void): void
  /** Called once when the manager side is gone (process IPC disconnected). */
  onClose(handler: () => void): void
  /** Sends, then calls back once the message left (or could not). */
  flush(msg: unknown, done: () => void): void
}

export function openManagerChannel(mode: 'processes' | 'workers'): ManagerChannel {
  if (mode === 'workers') {
    const port = parentPort
    if (!port) throw new Error('WORKERS mode but no parentPort: this file must be started by the sharding manager')
    return {
      send: (msg) => {
        port.postMessage(msg)
        return true
      },
      onMessage: (h) => void port.on('message', h),
      onClose: (h) => void port.on('close', h),
      flush: (msg, done) => {
        port.postMessage(msg)
        done()
      },
    }
  }
  if (typeof process.send !== 'function') {
    throw new Error('PROCESSES mode but no IPC channel: this file must be started by the sharding manager')
  }
  return {
    send: (msg) => {
      // A send on a closed channel throws ERR_IPC_CHANNEL_CLOSED; the manager is gone, so say so.
      if (!process.connected) return false
      process.send!(msg, undefined, undefined, () => {})
      return true
    },
    onMessage: (h) => void process.on('message', h),
    onClose: (h) => void process.once('disconnect', h),
    flush: (msg, done) => {
      if (!process.connected) return done()
      process.send!(msg, undefined, undefined, () => done())
    },
  }
}

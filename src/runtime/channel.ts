/**
 * The instance's side of the manager channel: process IPC (JSON serialization) in PROCESSES mode,
 * a port of its own in WORKERS mode. Same calls either way.
 *
 * Our envelopes are for the runtime alone. The bot's own `process.on('message')` / `parentPort`
 * listeners and discord.js's ShardClientUtil see only what discord.js's manager would send them
 * (its `_`-keyed protocol and `manager.send()` to a bot without ShardingClient): a bot that treats
 * every message as a command must not get our requests, and discord.js's handler need not run for
 * each of them. WORKERS mode gets a MessagePort next to parentPort; PROCESSES mode has one IPC
 * channel, so envelopes are taken off it before any listener is called.
 */
import { workerData, type MessagePort } from 'node:worker_threads'
import { isEnvelope } from '../ipc/envelope.js'

/** Where the manager puts the instance's protocol port in `workerData` (src/modes/workers.ts). */
export const PROTOCOL_PORT_KEY = '__discordooProtocolPort'

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
    const port = (workerData as Record<string, unknown> | null)?.[PROTOCOL_PORT_KEY] as MessagePort | undefined
    if (!port) throw new Error('WORKERS mode but no protocol port: this file must be started by the sharding manager')
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
    onMessage: (h) => takeEnvelopes(h),
    onClose: (h) => void process.once('disconnect', h),
    flush: (msg, done) => {
      if (!process.connected) return done()
      process.send!(msg, undefined, undefined, () => done())
    },
  }
}

/**
 * Hands our envelopes to `handler` before `process.emit` calls anyone's 'message' listener, and lets
 * every other message through. Node's IPC delivers (and keeps the process alive) only while 'message'
 * has a listener, so the runtime keeps an empty one registered.
 */
function takeEnvelopes(handler: (msg: unknown) => void): void {
  const emit = process.emit
  process.emit = function (this: NodeJS.Process, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'message' && isEnvelope(args[0])) {
      handler(args[0])
      return true
    }
    return (emit as (event: string | symbol, ...args: unknown[]) => boolean).apply(this, [event, ...args])
  } as typeof process.emit
  process.on('message', keepChannelOpen)
}

function keepChannelOpen(): void {}

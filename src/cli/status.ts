/**
 * `discordoo status --url http://host:port`: reads `/status` from a running manager's metrics
 * endpoint and prints the same table as the demo (plus one line per machine link). `--watch`
 * redraws it until Ctrl-C.
 */
import type { ManagerStatus } from '../manager/backend.js'
import { formatMs } from './format.js'
import { oneLine } from './exit.js'
import { CliUsageError } from './options.js'
import { stopSignals } from './signals.js'
import { renderMachineLines, renderStatusTable } from './table.js'

export interface StatusFlags {
  url?: string
  watch?: string | boolean
  timeout?: string
}

export interface StatusOptions {
  /** The /status URL. */
  url: string
  /** Redraw period, ms; null: print once. */
  watchMs: number | null
  timeoutMs: number
}

export const DEFAULT_WATCH_SECONDS = 2

/** `http://10.0.0.5:9100` or `http://10.0.0.5:9100/status` → the /status URL. */
export function statusUrl(value: string | undefined): string {
  if (value === undefined || value.trim() === '') throw new CliUsageError('--url', 'is required: the metrics address of the manager, e.g. http://127.0.0.1:9100')
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new CliUsageError('--url', `expected a URL like http://127.0.0.1:9100, got ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliUsageError('--url', `expected an http:// URL, got ${JSON.stringify(value)}`)
  const path = url.pathname.replace(/\/+$/, '')
  url.pathname = path.endsWith('/status') ? path : `${path}/status`
  url.search = ''
  url.hash = ''
  return url.toString()
}

function seconds(flag: string, value: string, min: number, max: number): number {
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isFinite(n) || n < min || n > max) throw new CliUsageError(flag, `expected a number of seconds between ${min} and ${max}, got ${JSON.stringify(value)}`)
  return Math.round(n * 1000)
}

export function resolveStatusOptions(flags: StatusFlags): StatusOptions {
  const url = statusUrl(flags.url)
  const watchMs = flags.watch === undefined || flags.watch === false ? null : flags.watch === true ? DEFAULT_WATCH_SECONDS * 1000 : seconds('--watch', flags.watch, 0.1, 3600)
  const timeoutMs = flags.timeout === undefined ? 5000 : seconds('--timeout', flags.timeout, 0.1, 600)
  return { url, watchMs, timeoutMs }
}

/** Fetches and checks one status document; errors are one line that says what to check. */
export async function fetchStatus(url: string, timeoutMs: number): Promise<ManagerStatus> {
  let res: Response
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } })
  } catch (err) {
    const cause = (err as { cause?: { code?: string } })?.cause?.code ?? (err as Error)?.name
    const why = cause === 'ECONNREFUSED' ? 'connection refused' : cause === 'TimeoutError' ? `no answer within ${formatMs(timeoutMs)}` : cause === 'ENOTFOUND' ? 'no such host' : oneLine(err)
    throw new Error(`cannot reach ${url}: ${why} (is the manager running with metrics on that address?)`)
  }
  const body = await res.text()
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${oneLine(body)}`)
  let status: unknown
  try {
    status = JSON.parse(body)
  } catch {
    throw new Error(`${url} did not answer JSON; is this the metrics port of a discordoo-sharding manager?`)
  }
  if (typeof status !== 'object' || status === null || !Array.isArray((status as ManagerStatus).machines)) {
    throw new Error(`${url} answered JSON that is not a manager status (no machines list)`)
  }
  return status as ManagerStatus
}

export function renderStatus(status: ManagerStatus): string[] {
  const machines = renderMachineLines(status)
  return [...renderStatusTable(status), ...(machines.length > 0 ? ['', ...machines] : [])]
}

export interface StatusIO {
  write(text: string): void
  isTTY: boolean
}

const processIO: StatusIO = {
  write: (text) => void process.stdout.write(text),
  get isTTY() {
    return Boolean(process.stdout.isTTY)
  },
}

/** Prints the status once (exit 0), or redraws it every period until SIGINT / SIGTERM (exit 0). */
export async function runStatus(flags: StatusFlags, io: StatusIO = processIO): Promise<number> {
  const opts = resolveStatusOptions(flags)
  if (opts.watchMs === null) {
    io.write(renderStatus(await fetchStatus(opts.url, opts.timeoutMs)).join('\n') + '\n')
    return 0
  }
  const signals = stopSignals()
  let stopped = false
  void signals.first.then(() => (stopped = true))
  try {
    let drawn = 0
    while (!stopped) {
      let lines: string[]
      try {
        lines = renderStatus(await fetchStatus(opts.url, opts.timeoutMs))
      } catch (err) {
        // The manager may be restarting: keep watching.
        lines = [oneLine(err)]
      }
      const header = `${new Date().toISOString()} · ${opts.url} · every ${formatMs(opts.watchMs)} · Ctrl-C to stop`
      if (io.isTTY && drawn > 0) io.write(`\x1b[${drawn}F\x1b[J`)
      io.write([header, ...lines].join('\n') + '\n' + (io.isTTY ? '' : '\n'))
      drawn = lines.length + 1
      let timer: NodeJS.Timeout | undefined
      await Promise.race([new Promise((r) => (timer = setTimeout(r, opts.watchMs!))), signals.first])
      clearTimeout(timer)
    }
    return 0
  } finally {
    signals.dispose()
  }
}

/** Ctrl-C / SIGTERM for the long-running commands: the first signal stops cleanly, a second exits at once. */

export interface StopSignals {
  /** Resolves with the first signal's name. */
  readonly first: Promise<string>
  /** Removes the handlers. */
  dispose(): void
}

/**
 * Installs SIGINT / SIGTERM handlers. `onRepeat` runs on the second signal (it usually prints what is
 * left running and exits); without one, the second signal exits with 130.
 */
export function stopSignals(onRepeat: (signal: string) => void = () => process.exit(130)): StopSignals {
  let resolveFirst!: (signal: string) => void
  const first = new Promise<string>((resolve) => (resolveFirst = resolve))
  let count = 0
  const handler = (signal: NodeJS.Signals) => {
    count++
    if (count === 1) resolveFirst(signal)
    else onRepeat(signal)
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    first,
    dispose() {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    },
  }
}

/**
 * How a failed command becomes one line on stderr and an exit code, the same in both binaries:
 * a usage error (a bad flag, a bad config field, a missing file) exits 2 and names the flag or field;
 * anything else (a port in use, a failed start) exits 1.
 */
import { CommanderError, type Command } from 'commander'
import { usageErrorFrom } from './options.js'

export interface ProgramOutput {
  writeOut(text: string): void
  writeErr(text: string): void
}

export const stdio: ProgramOutput = {
  writeOut: (text) => void process.stdout.write(text),
  writeErr: (text) => void process.stderr.write(text),
}

/** Exit code of a usage error, in both CLIs. */
export const USAGE_EXIT = 2

/** Routes commander's output through `output`, one line per error, and throws instead of exiting. */
export function configureProgram(program: Command, output: ProgramOutput): Command {
  return program
    .configureOutput({
      writeOut: output.writeOut,
      writeErr: output.writeErr,
      // One line per error: commander puts suggestions ("Did you mean …?") on a line of their own.
      outputError: (text, write) => write(`${text.replace(/\s*\n(?!$)\s*/g, ' ').trimEnd()}\n`),
    })
    .exitOverride()
    .showSuggestionAfterError(true)
}

/** The first line of an error's message. */
export function oneLine(err: unknown): string {
  const text =
    typeof err === 'string' ? err : typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string' ? (err as { message: string }).message : JSON.stringify(err)
  return String(text).split('\n')[0]
}

/** Prints `err` as one line prefixed by the command (`discordoo parent`) and returns the exit code. */
export function reportFailure(prefix: string, err: unknown, output: ProgramOutput): number {
  // commander already printed its own line (or the help).
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : USAGE_EXIT
  const usage = usageErrorFrom(err)
  if (usage) {
    output.writeErr(`${prefix}: error: ${usage.message} (see ${prefix} --help)\n`)
    return USAGE_EXIT
  }
  output.writeErr(`${prefix}: ${oneLine(err)}\n`)
  return 1
}

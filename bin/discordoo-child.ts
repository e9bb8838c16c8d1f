#!/usr/bin/env node
import { runChildCli } from '../src/child/cli.js'

runChildCli(process.argv.slice(2)).catch((err: { code?: string; message?: string; exitCode?: number }) => {
  // commander already printed help / its own error line
  if (err?.code?.startsWith?.('commander.')) process.exit(err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2)
  console.error(`discordoo-child: ${err?.message ?? String(err)}`)
  process.exit(1)
})

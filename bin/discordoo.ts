#!/usr/bin/env node
// The `discordoo` command. Commands, flags and behaviour live in src/cli/; this file only wires the
// real actions into the program and turns the result into the process's exit.
import { cliActions } from '../src/cli/actions.js'
import { main } from '../src/cli/program.js'

void main(process.argv, cliActions).then((result) => {
  if ('exitCode' in result) process.exit(result.exitCode)
  // 'keepRunning': a server (the simulator) holds the process open until SIGINT / SIGTERM.
})

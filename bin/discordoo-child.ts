#!/usr/bin/env node
// The `discordoo-child` command; flags and behaviour live in src/cli/child.ts.
import { childMain } from '../src/cli/child.js'

void childMain(process.argv.slice(2)).then((code) => process.exit(code))

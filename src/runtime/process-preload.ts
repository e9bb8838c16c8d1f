/** Loaded with `node --require` before the client file of a PROCESSES-mode instance. */
import { installDiscordJsAdapter } from './discordjs-adapter.js'
import { InstanceRuntime } from './instance-runtime.js'

const runtime = InstanceRuntime.install()
if (runtime) installDiscordJsAdapter(runtime)

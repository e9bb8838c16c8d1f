/**
 * Entry of a WORKERS-mode instance: installs the runtime, then loads the user's client file in the
 * same thread (so discord.js's ShardClientUtil finds the same parentPort). A client file that
 * throws surfaces as the Worker's 'error' event in the manager.
 */
import { pathToFileURL } from 'node:url'
import { installDiscordJsAdapter } from './discordjs-adapter.js'
import { InstanceRuntime } from './instance-runtime.js'

const runtime = InstanceRuntime.install()
if (!runtime) throw new Error('worker-entry started without a sharding context; it is started by the sharding manager only')
installDiscordJsAdapter(runtime)
void import(pathToFileURL(runtime.context.file).href).catch((err: unknown) => {
  // Rethrow outside the promise chain so it becomes the worker's uncaught error.
  setImmediate(() => {
    throw err
  })
})

/**
 * `sharding.attach(client)` for discord.js v14 bots that opt in. The hooks themselves live in
 * runtime/discordjs-hooks.ts, shared with the runtime's adapter for unmodified bots.
 */
import { hookDiscordJs, type DiscordJsPort } from '../runtime/discordjs-hooks.js'
import type { InstanceRuntime } from '../runtime/instance-runtime.js'

export { isDiscordJsClient } from '../runtime/discordjs-hooks.js'

export interface AttachOptions {
  /** Route IDENTIFYs through the manager's identify authority (default true). */
  identify?: boolean
  /** Report sessions to the manager's session store (default true). */
  sessions?: boolean
  /**
   * RESUME the sessions a previous instance left (default false). discord.js builds its caches
   * (user, guilds, channels) from READY and GUILD_CREATE, which a RESUME in a fresh process never
   * gets: with `resume: true` the client becomes ready from a stored READY identity with an empty
   * guild cache that fills from later events. Meant for bots that do not rely on the cache (partials);
   * by default a respawned instance IDENTIFYs and gets its full state.
   */
  resume?: boolean
}

export function attachDiscordJs(sharding: DiscordJsPort, runtime: InstanceRuntime, client: unknown, options: AttachOptions): void {
  hookDiscordJs(sharding, runtime.hooks, client, { identify: options.identify, sessions: options.sessions, resume: options.resume, gateway: runtime.context.gateway })
}

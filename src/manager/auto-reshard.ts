/**
 * `reshard: { auto: true }`: re-reads /gateway/bot every `checkInterval` and re-shards when Discord
 * recommends more shards than run. A 4011 close ("sharding required": a shard holds too many
 * guilds) triggers a check at once. Only the root manager does this; one check or re-shard at a time.
 */
import { fetchGatewayBot } from './gateway-info.js'
import type { ReshardOptions } from './reshard.js'

export interface AutoReshardHost {
  readonly totalShards: number | null
  reshard(options: ReshardOptions): Promise<void>
  emit(name: string, ...args: unknown[]): void
  on(name: string, listener: (...args: any[]) => void): unknown
}

export class AutoReshard {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null

  constructor(
    private readonly host: AutoReshardHost,
    private readonly gateway: { api: string; token: string },
    private readonly checkInterval: number,
  ) {
    host.on('shardDisconnect', (_shardId: number, _instanceId: number, code?: number) => {
      if (code === 4011) void this.check('a shard closed with 4011 (sharding required)')
    })
  }

  start(): void {
    this.timer = setInterval(() => void this.check('periodic check'), this.checkInterval)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Asks /gateway/bot; re-shards when it recommends more shards than run. Never throws. */
  check(why: string): Promise<void> {
    this.running ??= this.run(why).finally(() => (this.running = null))
    return this.running
  }

  private async run(why: string): Promise<void> {
    try {
      const { shards } = await fetchGatewayBot(this.gateway.api, this.gateway.token)
      const current = this.host.totalShards
      this.host.emit('debug', `auto re-shard (${why}): /gateway/bot recommends ${shards} shards, ${current} run`)
      if (current === null || shards <= current) return
      await this.host.reshard({ totalShards: shards })
    } catch (err) {
      this.host.emit('error', err)
    }
  }
}

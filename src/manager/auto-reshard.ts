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

/** Reads Discord's recommended shard count; injectable so the queueing is unit-tested without HTTP. */
export type RecommendedShards = (api: string, token: string) => Promise<{ shards: number }>

const PERIODIC = 'periodic check'
const SHARDING_REQUIRED = 'a shard closed with 4011 (sharding required)'

export class AutoReshard {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  /**
   * A check asked for while one runs. It runs after the current one, because the current one may
   * have read /gateway/bot before the cause of this ask (a 4011 close) happened. Asks that arrive
   * while one is queued join it; a 4011 reason replaces a periodic one, so `debug` says why.
   */
  private queued: { why: string; done: Promise<void> } | null = null

  constructor(
    private readonly host: AutoReshardHost,
    private readonly gateway: { api: string; token: string },
    private readonly checkInterval: number,
    private readonly recommended: RecommendedShards = fetchGatewayBot,
  ) {
    host.on('shardDisconnect', (_shardId: number, _instanceId: number, code?: number) => {
      if (code === 4011) void this.check(SHARDING_REQUIRED)
    })
  }

  start(): void {
    this.timer = setInterval(() => void this.check(PERIODIC), this.checkInterval)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /**
   * Asks /gateway/bot; re-shards when it recommends more shards than run. Never throws. Settles when
   * a check that started after this ask has finished.
   */
  check(why: string): Promise<void> {
    if (!this.running) {
      this.running = this.run(why).finally(() => this.next())
      return this.running
    }
    if (this.queued) {
      if (this.queued.why === PERIODIC) this.queued.why = why
      return this.queued.done
    }
    const current = this.running
    const queued = { why, done: current.then(() => this.running ?? Promise.resolve()) }
    this.queued = queued
    return queued.done
  }

  /** Runs the queued check, if any, once the current one has finished. */
  private next(): void {
    const queued = this.queued
    this.queued = null
    this.running = queued ? this.run(queued.why).finally(() => this.next()) : null
  }

  private async run(why: string): Promise<void> {
    try {
      const { shards } = await this.recommended(this.gateway.api, this.gateway.token)
      const current = this.host.totalShards
      this.host.emit('debug', `auto re-shard (${why}): /gateway/bot recommends ${shards} shards, ${current} run`)
      if (current === null || shards <= current) return
      await this.host.reshard({ totalShards: shards })
    } catch (err) {
      this.host.emit('error', err)
    }
  }
}

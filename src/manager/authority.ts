/**
 * The root's authority over the whole bot: the identify scheduler, the start gate and the session
 * store. Exactly one exists per bot (on the single-machine manager or on the MACHINES parent);
 * everything that wants to identify or start asks it, on this machine or over a link.
 */
import type { GatewayHandOver, SessionInfo } from '../runtime/context.js'
import { fetchGatewayBot, type GatewayBotInfo } from './gateway-info.js'
import { IdentifyScheduler } from './identify-scheduler.js'
import type { ResolvedOptions } from './options.js'
import { SessionStore } from './session-store.js'
import { StartGate, type StartSlot } from './start-gate.js'
import { range } from './shard-plan.js'

/** How often the budget is re-read from /gateway/bot. */
const BUDGET_REFRESH_MS = 10 * 60_000
import type { RootServices } from './instance-host.js'
import { systemClock } from '../util/clock.js'

const GATE_MODE_DEBUG: Record<string, string> = {
  coordinated: 'the bot asks the identify queue; starting every instance, each a lead time before its first identify turn',
  waves:
    'the bot throttles identifies itself (not discord.js, discord.js adaptation off, or a discord.js version the adapter does not support); starting instances in key-aware waves',
}

export interface BotLayout {
  shards: number[]
  totalShards: number
  maxConcurrency: number
  gateway: GatewayBotInfo | null
}

/** Fills in 'auto' shard counts, max_concurrency and the budget from /gateway/bot when a token is given. */
export async function resolveLayout(opts: ResolvedOptions, fixedShards: number[] | null, emit: (name: string, ...a: unknown[]) => void): Promise<BotLayout> {
  const needsGateway =
    opts.token !== null && (opts.shards === 'auto' || opts.totalShards === 'auto' || opts.identify.maxConcurrency === null || opts.identify.budget === null)
  const gateway = needsGateway ? await fetchGatewayBot(opts.api, opts.token!) : null
  if (gateway) emit('debug', `/gateway/bot: ${gateway.shards} shards recommended, max_concurrency ${gateway.session_start_limit.max_concurrency}, ${gateway.session_start_limit.remaining} sessions left`)
  const totalShards = opts.totalShards === 'auto' ? gateway!.shards : (opts.totalShards ?? (fixedShards ? Math.max(...fixedShards) + 1 : gateway!.shards))
  const shards = fixedShards ?? (opts.shards === 'auto' ? range(0, totalShards - 1) : (opts.shards as number[]))
  const maxConcurrency = opts.identify.maxConcurrency ?? gateway?.session_start_limit.max_concurrency ?? 1
  return { shards, totalShards, maxConcurrency, gateway }
}

export class Authority implements RootServices {
  readonly scheduler: IdentifyScheduler
  readonly gate: StartGate
  readonly sessions = new SessionStore()

  readonly totalShards: number
  private refreshTimer: NodeJS.Timeout | null = null
  /** The last /gateway/bot answer (null when the manager did not need to ask). */
  private gateway: GatewayBotInfo | null

  constructor(
    private readonly opts: ResolvedOptions,
    layout: BotLayout,
    private readonly emit: (name: string, ...a: unknown[]) => void,
  ) {
    this.totalShards = layout.totalShards
    this.gateway = layout.gateway
    const limit = layout.gateway?.session_start_limit
    const budget = opts.identify.budget ?? (limit ? { total: limit.total, remaining: limit.remaining, resetAfter: limit.reset_after } : null)
    this.scheduler = new IdentifyScheduler({
      maxConcurrency: layout.maxConcurrency,
      windowMs: opts.identify.windowMs,
      marginMs: opts.identify.marginMs,
      sentMarginMs: opts.identify.sentMarginMs,
      budget: budget ? { total: budget.total, remaining: budget.remaining, resetAt: systemClock.now() + budget.resetAfter } : undefined,
    })
    this.gate = new StartGate(opts.identify.strategy, this.scheduler.spacingMs, undefined, {
      keyOf: (shard) => this.scheduler.keyOf(shard),
      quietMs: this.scheduler.marginMs - this.scheduler.sentMarginMs,
    })
    this.gate.on('mode', (mode) => emit('debug', `start gate: ${GATE_MODE_DEBUG[mode as string] ?? mode}`))
    // { shardId, key, at }: `at` on the authority's monotonic clock, so gaps between grants are exact.
    this.scheduler.on('grant', (grant) => emit('identifyGrant', grant))
    this.scheduler.on('holdExpired', (h) =>
      emit('debug', `identify turn of shard ${h.shardId} was not reported handed over within ${h.heldMs} ms; key ${h.key} takes turns again`),
    )
    this.scheduler.on('budgetExhausted', (b) => emit('debug', `identify budget spent; identifies wait ${Math.round(Math.max(0, b.resetAt - systemClock.now()))} ms for the reset`))
    if (budget && budget.remaining < layout.shards.length) {
      emit('error', new Error(`only ${budget.remaining} identifies left today for ${layout.shards.length} shards; the rest wait for the budget reset in ${budget.resetAfter} ms`))
    }
    // Discord's own count is the truth (other processes, other days): re-read it now and then.
    if (opts.token && !opts.identify.budget) {
      this.refreshTimer = setInterval(() => void this.refreshBudget().catch((err) => emit('debug', `budget refresh failed: ${(err as Error).message}`)), BUDGET_REFRESH_MS)
      this.refreshTimer.unref()
    }
  }

  /** The daily identify budget now: { total, remaining, resetAt (epoch ms) }, or null when unlimited. */
  budget(): { total: number; remaining: number; resetAt: number } | null {
    const b = this.scheduler.budgetNow()
    return b ? { total: b.total, remaining: b.remaining, resetAt: Math.round(Date.now() + (b.resetAt - systemClock.now())) } : null
  }

  /**
   * /gateway/bot as last fetched, with the budget as the authority counts it now, for a new
   * instance's discord.js client (InstanceContext.gateway); null when the manager never asked.
   */
  gatewayHandOver(): GatewayHandOver | null {
    const info = this.gateway
    if (!info) return null
    // Only the fields discord.js reads, whole milliseconds: it also crosses the machine link, checked strictly.
    const l = info.session_start_limit
    const budget = this.scheduler.budgetNow()
    const limit = budget
      ? { total: budget.total, remaining: budget.remaining, reset_after: Math.max(0, Math.round(budget.resetAt - systemClock.now())), max_concurrency: l.max_concurrency }
      : { total: l.total, remaining: l.remaining, reset_after: Math.max(0, Math.round(l.reset_after)), max_concurrency: l.max_concurrency }
    return { api: this.opts.api, at: Date.now(), data: { url: info.url, shards: info.shards, session_start_limit: limit } }
  }

  /** Re-reads session_start_limit from /gateway/bot (with a token); the scheduler then paces by it. */
  async refreshBudget(): Promise<void> {
    if (!this.opts.token || this.opts.identify.budget) return
    const info = await fetchGatewayBot(this.opts.api, this.opts.token)
    this.gateway = info
    const l = info.session_start_limit
    this.scheduler.setBudget({ total: l.total, remaining: l.remaining, resetAt: systemClock.now() + l.reset_after })
    this.emit('debug', `identify budget refreshed: ${l.remaining} of ${l.total} left, reset in ${l.reset_after} ms`)
  }

  /** A turn for `shardId`; `hold` for a turn that crosses a machine link (released by `identifySettled`). */
  identify(shardId: number, signal: AbortSignal, options: { hold?: boolean } = {}): Promise<void> {
    return this.scheduler.acquire(shardId, { signal, hold: options.hold }).then(() => this.gate.noteIdentify(shardId))
  }

  /** The machine that asked for `shardId`'s held turn handed it to the instance, or gave it up. */
  identifySettled(shardId: number): void {
    this.scheduler.release(shardId)
  }

  /** A machine's link lost its messages (a new session): its held turns will never arrive. */
  releaseHeldIdentifies(owns: (shardId: number) => boolean): void {
    this.scheduler.releaseHeld(owns)
  }

  identifySent(shardId: number, sentAgoMs?: number): void {
    this.scheduler.confirmSent(shardId, sentAgoMs)
  }

  acquireStart(holder: string, shards: number[], signal: AbortSignal): Promise<StartSlot> {
    return this.gate.acquire(holder, signal, shards)
  }

  releaseStart(slot: StartSlot, outcome: 'ready' | 'failed'): void {
    this.gate.release(slot, outcome)
  }

  noteIdentifies(how: 'coordinated' | 'announced' | 'uncoordinated', shards: number[]): void {
    if (how !== 'uncoordinated') return this.gate.noteCoordinatedIdentify(how === 'coordinated' ? shards : [])
    this.scheduler.markUsed(shards)
    this.scheduler.spend(shards.length)
  }

  sessionsFor(shards: number[], totalShards: number): Record<number, SessionInfo> {
    return this.sessions.forShards(shards, totalShards)
  }

  updateSession(shardId: number, totalShards: number, session: SessionInfo | null): void {
    this.sessions.update(shardId, totalShards, session)
  }

  stats(strategy: string) {
    return { ...this.scheduler.stats(), strategy: this.gate.mode === 'probing' ? `${strategy} (probing)` : this.gate.mode }
  }

  close(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer)
    this.scheduler.close()
    this.gate.close()
  }
}

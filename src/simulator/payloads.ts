import type { SimGuild } from './guilds.js'
import type { ResolvedSimulatorOptions } from './options.js'

/** The bot user as Discord sends it in READY and `GET /users/@me`. */
export function botUser(o: ResolvedSimulatorOptions): Record<string, unknown> {
  return { ...o.user, bot: true }
}

export interface ReadyInput {
  sessionId: string
  resumeGatewayUrl: string
  shard: [number, number] | null
  guilds: readonly SimGuild[]
  version: number
}

export function readyData(o: ResolvedSimulatorOptions, r: ReadyInput): Record<string, unknown> {
  const data: Record<string, unknown> = {
    v: r.version,
    user: botUser(o),
    user_settings: {},
    private_channels: [],
    relationships: [],
    guilds: r.guilds.map((g) => ({ id: g.id, unavailable: true })),
    session_id: r.sessionId,
    session_type: 'normal',
    resume_gateway_url: r.resumeGatewayUrl,
    application: { id: o.applicationId, flags: 0 },
  }
  if (r.shard) data.shard = r.shard
  return data
}

/**
 * A GUILD_CREATE discord.js accepts as a full, available guild: `channels` must be present (else the
 * guild stays unavailable) and `unavailable: false` must be explicit (a guild cached from READY only
 * flips to available when the key exists). See gateway.md §2.1 step 8.
 */
export function guildCreateData(g: SimGuild): Record<string, unknown> {
  return {
    id: g.id,
    name: g.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    banner: null,
    description: null,
    owner_id: g.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 0,
    explicit_content_filter: 0,
    mfa_level: 0,
    nsfw_level: 0,
    premium_tier: 0,
    premium_subscription_count: 0,
    preferred_locale: 'en-US',
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    public_updates_channel_id: null,
    vanity_url_code: null,
    application_id: null,
    max_members: 500_000,
    max_video_channel_users: 25,
    roles: [
      {
        id: g.id,
        name: '@everyone',
        color: 0,
        hoist: false,
        icon: null,
        unicode_emoji: null,
        position: 0,
        permissions: '0',
        managed: false,
        mentionable: false,
        flags: 0,
      },
    ],
    emojis: [],
    stickers: [],
    features: [],
    unavailable: false,
    large: false,
    lazy: true,
    member_count: g.memberCount,
    joined_at: g.joinedAt,
    members: [],
    channels: [],
    threads: [],
    presences: [],
    voice_states: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
    embedded_activities: [],
  }
}

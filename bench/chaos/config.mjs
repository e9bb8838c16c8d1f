// Run settings for the chaos suite: defaults, flags (--name value) and CHAOS_* environment
// variables (flags win), and the fault quotas, which scale with the duration unless given.
// Pure: no I/O, so it is unit-tested.

/** Fault quotas of the default 10-minute run; shorter or longer runs scale them. */
export const QUOTAS_PER_10_MIN = { kills: 100, cuts: 50, parentRestarts: 5, childRestarts: 10, hangs: 10, fills: 5, respawns: 6 }

const NUMBER_FIELDS = {
  machines: ['machines', 2, 1, 8],
  shardsPerMachine: ['shards-per-machine', 6, 1, 64],
  shardsPerInstance: ['shards-per-instance', 2, 1, 64],
  maxConcurrency: ['max-concurrency', 4, 1, 16],
  windowMs: ['window-ms', 200, 50, 5000],
  parentRate: ['parent-rate', 5, 0, 200],
  botInterval: ['bot-interval', 1000, 0, 60_000],
  recoverMs: ['recover-ms', 60_000, 1000, 600_000],
  kills: ['kills', null, 0, 100_000],
  cuts: ['cuts', null, 0, 100_000],
  parentRestarts: ['parent-restarts', null, 0, 10_000],
  childRestarts: ['child-restarts', null, 0, 10_000],
  hangs: ['hangs', null, 0, 10_000],
  fills: ['fills', null, 0, 10_000],
  respawns: ['respawns', null, 0, 10_000],
  seed: ['seed', null, 0, 2 ** 32 - 1],
}

export const USAGE = `node bench/chaos.mjs [options]          (npm run chaos -- [options]; run npm run build first)

  --duration <t>            fault phase length: 600, 600s, 10m (default 10m)
  --kills <n>               instance SIGKILLs          (default 100 per 10 min)
  --cuts <n>                link cuts                  (default 50 per 10 min)
  --parent-restarts <n>     parent crashes + restarts  (default 5 per 10 min, at least 1)
  --child-restarts <n>      child manager crashes      (default 10 per 10 min, at least 1)
  --hangs <n>               instance event-loop hangs  (default 10 per 10 min, at least 1)
  --fills <n>               links filled to backpressure (default 5 per 10 min, at least 1)
  --respawns <n>            manager.respawn(id) calls, every other one with its link cut meanwhile (6 per 10 min, at least 1)
  --machines <n>            child managers (default 2), --shards-per-machine (6), --shards-per-instance (2)
  --max-concurrency <n>     identify concurrency (4),  --window-ms <ms> identify window (200)
  --parent-rate <n>         parent calls per second (5), --bot-interval <ms> per-instance call spacing (1000)
  --timeout <min-max>       call deadlines in ms (2000-5000)
  --recover-ms <ms>         longest wait for all-ready after a fault before it counts as not recovered (60000)
  --seed <n>                seed for fault order and targets
  --json <file>             also write the full result as JSON
  --verbose                 print every fault and the child managers' output
Every option also reads CHAOS_<NAME> from the environment (e.g. CHAOS_DURATION=60s, CHAOS_KILLS=20).
Exit code: 0 when every check passed, 1 when one failed, 2 for bad options, 130 when interrupted.`

export class ConfigError extends Error {}

/** "600", "600s", "10m", "1h" → seconds. */
export function parseDuration(value, field = '--duration') {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(value).trim())
  if (!m) throw new ConfigError(`${field}: expected a duration like 600, 90s or 10m, got ${JSON.stringify(value)}`)
  const n = Number(m[1])
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 's']
  const seconds = n * unit
  if (seconds < 10) throw new ConfigError(`${field}: must be at least 10 s, got ${value}`)
  return seconds
}

/** argv (after the script name) → { name: value | true }; rejects unknown flags with the list of known ones. */
export function parseFlags(argv) {
  const known = new Set(['duration', 'timeout', 'json', 'verbose', 'help', ...Object.values(NUMBER_FIELDS).map(([flag]) => flag)])
  const flags = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(a)}; options start with --`)
    let [name, value] = a.slice(2).split(/=(.*)/s, 2)
    if (!known.has(name)) throw new ConfigError(`--${name}: unknown option; known: ${[...known].map((k) => `--${k}`).join(' ')}`)
    if (name === 'verbose' || name === 'help') {
      flags[name] = true
      continue
    }
    if (value === undefined) {
      value = argv[++i]
      if (value === undefined) throw new ConfigError(`--${name}: needs a value`)
    }
    flags[name] = value
  }
  return flags
}

const envName = (flag) => `CHAOS_${flag.toUpperCase().replace(/-/g, '_')}`

/** Resolves flags + environment into a full config. Throws ConfigError naming the option. */
export function resolveConfig(flags = {}, env = {}) {
  const get = (flag) => flags[flag] ?? env[envName(flag)]
  const config = {}
  config.durationS = get('duration') === undefined ? 600 : parseDuration(get('duration'))
  for (const [key, [flag, def, min, max]] of Object.entries(NUMBER_FIELDS)) {
    const raw = get(flag)
    if (raw === undefined || raw === '') {
      config[key] = def
      continue
    }
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${flag} (${envName(flag)}): expected an integer ${min}..${max}, got ${JSON.stringify(raw)}`)
    config[key] = n
  }
  const timeout = String(get('timeout') ?? '2000-5000')
  const tm = /^(\d+)(?:-(\d+))?$/.exec(timeout)
  if (!tm) throw new ConfigError(`--timeout (CHAOS_TIMEOUT): expected <ms> or <min>-<max>, got ${JSON.stringify(timeout)}`)
  config.timeoutMin = Number(tm[1])
  config.timeoutMax = Number(tm[2] ?? tm[1])
  if (config.timeoutMin < 500 || config.timeoutMax < config.timeoutMin) throw new ConfigError(`--timeout: needs 500 <= min <= max, got ${timeout}`)
  if (config.shardsPerMachine % config.shardsPerInstance !== 0) {
    throw new ConfigError(`--shards-per-instance: ${config.shardsPerInstance} must divide --shards-per-machine (${config.shardsPerMachine})`)
  }
  const scale = config.durationS / 600
  const scaled = (key, atLeastOne) => Math.max(atLeastOne ? 1 : 0, Math.ceil(QUOTAS_PER_10_MIN[key] * scale))
  config.quotas = {
    kills: config.kills ?? scaled('kills', true),
    cuts: config.cuts ?? scaled('cuts', true),
    parentRestarts: config.parentRestarts ?? scaled('parentRestarts', true),
    childRestarts: config.childRestarts ?? scaled('childRestarts', true),
    hangs: config.hangs ?? scaled('hangs', true),
    fills: config.fills ?? scaled('fills', true),
    respawns: config.respawns ?? scaled('respawns', true),
  }
  config.seed = config.seed ?? Math.floor(Math.random() * 2 ** 32)
  config.json = get('json') ?? null
  config.verbose = Boolean(flags.verbose) || env.CHAOS_VERBOSE === '1'
  config.instancesPerMachine = config.shardsPerMachine / config.shardsPerInstance
  config.totalShards = config.machines * config.shardsPerMachine
  config.instances = config.machines * config.instancesPerMachine
  return config
}

/** A small seeded PRNG (mulberry32): fault order and targets repeat for a seed. */
export function makeRandom(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)],
    between: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
  }
}

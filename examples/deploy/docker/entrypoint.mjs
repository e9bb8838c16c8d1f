#!/usr/bin/env node
/**
 * Container entry point of the deploy kit. The first argument picks the role:
 *   child   discordoo-child, with its flags from the environment; in a Kubernetes StatefulSet the
 *           pod's ordinal (discordoo-child-2 → 2) picks its certificate, tls/child-2.pem.
 *   parent  discordoo parent; with PARENT_CONFIG it runs that file, otherwise it writes one from the
 *           environment: child i is "<CHILD_STATEFULSET>-i.<CHILD_SERVICE>" and runs shards
 *           i*SHARDS_PER_CHILD .. (i+1)*SHARDS_PER_CHILD-1.
 *   other   passed to the `discordoo` CLI as is (e.g. `simulator --host 0.0.0.0`).
 * The shard math and the flags are plain functions, exported so the deploy tests check them against
 * the real CLIs.
 */
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** `discordoo-child-2` → 2 (a StatefulSet pod's ordinal is the number after the last dash). */
export function ordinalOf(name) {
  const m = /-(\d+)$/.exec(name ?? '')
  if (!m) throw new Error(`cannot read a pod ordinal from ${JSON.stringify(name)}; set POD_NAME to the StatefulSet pod's name (e.g. discordoo-child-0) or set CHILD_CERT/CHILD_KEY`)
  return Number(m[1])
}

function integer(env, name, fallback) {
  const text = env[name] ?? (fallback === undefined ? undefined : String(fallback))
  if (text === undefined || !/^\d+$/.test(text)) throw new Error(`${name} must be a whole number, got ${JSON.stringify(env[name])}`)
  return Number(text)
}

/** The discordoo-child flags for this container. */
export function childArgs(env) {
  const tls = env.TLS_DIR ?? '/tls'
  const name = env.CHILD_CERT ? null : `child-${ordinalOf(env.POD_NAME ?? env.HOSTNAME)}`
  const args = [
    '--host', env.CHILD_HOST ?? env.POD_IP ?? '0.0.0.0',
    '--port', String(integer(env, 'CHILD_PORT', 8379)),
    '--file', env.BOT_FILE ?? 'examples/bots/discordjs-bot.mjs',
    '--cert', env.CHILD_CERT ?? join(tls, `${name}.pem`),
    '--key', env.CHILD_KEY ?? join(tls, `${name}.key`),
    '--trust', env.PARENT_CERT ?? join(tls, 'parent.pem'),
  ]
  if (env.CHILD_UDP === '1') args.push('--udp')
  return args
}

/** The parent's JSON config for CHILDREN children of a StatefulSet behind a headless Service. */
export function parentConfig(env) {
  const tls = env.TLS_DIR ?? '/tls'
  const children = integer(env, 'CHILDREN')
  const perChild = integer(env, 'SHARDS_PER_CHILD')
  const perInstance = integer(env, 'SHARDS_PER_INSTANCE', 1)
  const port = integer(env, 'CHILD_PORT', 8379)
  const sts = env.CHILD_STATEFULSET ?? 'discordoo-child'
  const service = env.CHILD_SERVICE ?? sts
  const mode = env.CHILD_MODE ?? 'processes'
  const config = {
    tls: {
      public: join(tls, 'parent.pem'),
      private: join(tls, 'parent.key'),
      trustedConnections: Array.from({ length: children }, (_, i) => join(tls, `child-${i}.pem`)),
    },
    points: Array.from({ length: children }, (_, i) => ({
      id: `${sts}-${i}`,
      host: `${sts}-${i}.${service}`,
      port,
      childManagerOptions: { mode, shards: { from: i * perChild, to: (i + 1) * perChild - 1 }, shardsPerInstance: perInstance },
    })),
    metrics: { port: integer(env, 'METRICS_PORT', 9100), host: env.METRICS_HOST ?? '0.0.0.0' },
  }
  if (env.TOTAL_SHARDS) config.totalShards = integer(env, 'TOTAL_SHARDS')
  if (env.DISCORD_API) config.api = env.DISCORD_API
  return config
}

/** Where the package's CLIs are (this file may sit in the package or in a bot that depends on it). */
function binDir() {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve('discordoo-sharding/package.json')), 'dist', 'bin')
}

/** Runs a CLI in this process, so signals reach it directly (PID 1 in a container). */
async function run(bin, args) {
  console.log(`discordoo-entrypoint: ${bin} ${args.join(' ')}`)
  process.argv = [process.argv[0], join(binDir(), `${bin}.js`), ...args]
  await import(pathToFileURL(process.argv[1]).href)
}

async function main([role, ...rest]) {
  const env = process.env
  if (role === 'child') return run('discordoo-child', [...childArgs(env), ...rest])
  if (role === 'parent') {
    let config = env.PARENT_CONFIG
    if (!config) {
      config = '/tmp/parent.json'
      writeFileSync(config, JSON.stringify(parentConfig(env), null, 2))
    }
    return run('discordoo', ['parent', '--config', config, ...rest])
  }
  return run('discordoo', role === undefined ? ['--help'] : [role, ...rest])
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`discordoo-entrypoint: ${err.message}`)
    process.exit(2)
  })
}

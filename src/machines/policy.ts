/**
 * What a child manager lets a trusted parent make it do. A trusted certificate is enough to tell a
 * child what to run; the child's operator decides how far that goes: which environment variables
 * and Node flags a parent may set for the instances, whether code sent as text (broadcastEval) runs,
 * which parent may attach, and how many shards and instances it takes. Pure checks, so each rule is
 * tested without sockets.
 */
import { OptionsError } from '../errors.js'
import type { Assignment } from './protocol.js'

export interface ChildPolicy {
  /** Environment variables a parent may set: null = any except the dangerous ones (DENIED_ENV). */
  allowEnv: string[] | null
  /** Node flags a parent may set, by name (`--max-old-space-size`); '*' allows any. */
  allowExecArgv: string[]
  /** Run code sent as text (broadcastEval, discord.js _sEval) from the parent (default true). */
  eval: boolean
  /** SHA-256 fingerprint of the only parent certificate that may attach (default: any trusted one). */
  parent: string | null
  /** A running pool belongs to the parent that assigned it: another trusted certificate cannot take it over (default true). */
  stickyParent: boolean
}

/**
 * Variables that load or inject code into every instance (NODE_OPTIONS=--require ..., a preloaded
 * shared library): never accepted from a parent unless the operator lists them in allowEnv.
 */
export const DENIED_ENV: readonly RegExp[] = [/^NODE_OPTIONS$/i, /^NODE_PATH$/i, /^NODE_REPL_EXTERNAL_MODULE$/i, /^NODE_EXTRA_CA_CERTS$/i, /^LD_/i, /^DYLD_/i, /^DISCORDOO_SHARDING$/i]

/**
 * Node flags that only tune the runtime; everything else (--require, --import, --loader, --eval,
 * --inspect, --env-file, ...) can run or expose code and must be allowed by the operator.
 */
export const SAFE_EXEC_ARGV: readonly string[] = [
  '--max-old-space-size',
  '--max-semi-space-size',
  '--stack-size',
  '--enable-source-maps',
  '--trace-warnings',
  '--trace-uncaught',
  '--no-warnings',
  '--unhandled-rejections',
  '--expose-gc',
  '--no-deprecation',
  '--trace-deprecation',
]

export const DEFAULT_POLICY: ChildPolicy = { allowEnv: null, allowExecArgv: [...SAFE_EXEC_ARGV], eval: true, parent: null, stickyParent: true }

/**
 * A gateway URL a parent may hand to this child's instances with its /gateway/bot answer: Discord's own
 * (`wss://…discord.gg`) or one on this machine's loopback (the simulator). A client connects there and
 * sends its token in IDENTIFY, so any other URL is not used: the instances ask Discord themselves.
 */
export function isTrustedGatewayUrl(url: string): boolean {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return false
  }
  const host = parsed.hostname.toLowerCase()
  if (parsed.protocol === 'wss:' && (host === 'discord.gg' || host.endsWith('.discord.gg'))) return true
  const loopback = host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  return loopback && (parsed.protocol === 'ws:' || parsed.protocol === 'wss:')
}

/** Throws an OptionsError naming the field a parent may not set under this child's policy. */
export function checkAssignmentPolicy(a: Assignment, policy: ChildPolicy): void {
  for (const name of Object.keys(a.env)) {
    const allowed = policy.allowEnv ? policy.allowEnv.includes(name) : !DENIED_ENV.some((re) => re.test(name))
    if (!allowed) {
      throw new OptionsError(
        `assignment.env.${name}`,
        policy.allowEnv
          ? `this child accepts only the environment variables ${policy.allowEnv.join(', ') || '(none)'} from a parent (--allow-env)`
          : `${name} can load code into every instance; this child accepts it only if its operator allows it (--allow-env ${name})`,
      )
    }
  }
  if (policy.allowExecArgv.includes('*')) return
  a.execArgv.forEach((arg, i) => {
    const flag = arg.split('=')[0]
    if (!flag.startsWith('-') || !policy.allowExecArgv.includes(flag)) {
      throw new OptionsError(
        `assignment.execArgv[${i}]`,
        `${JSON.stringify(arg)} is not a Node flag this child lets a parent set (allowed: ${policy.allowExecArgv.join(' ') || 'none'}; add one with --allow-exec-argv)`,
      )
    }
  })
}

/** The canonical form of a certificate fingerprint: uppercase hex pairs joined by ':'. */
export function normalizeFingerprint(fp: string, field = 'policy.parent'): string {
  const hex = fp.replace(/^sha256:/i, '').replace(/[^0-9a-f]/gi, '').toUpperCase()
  if (hex.length !== 64) throw new OptionsError(field, `expected a SHA-256 certificate fingerprint (64 hex digits, e.g. from \`openssl x509 -noout -fingerprint -sha256 -in parent.pem\`), got ${JSON.stringify(fp)}`)
  return hex.match(/../g)!.join(':')
}

/**
 * Whether a parent with this fingerprint may attach now: a string says why not. `owner` is the
 * parent whose assignment the running pool carries (null while none runs).
 */
export function checkParent(fingerprint: string, policy: ChildPolicy, owner: string | null): string | null {
  const fp = normalizeFingerprint(fingerprint, 'peer')
  if (policy.parent && fp !== policy.parent) return `this child accepts only the parent certificate ${policy.parent} (--parent)`
  if (policy.stickyParent && owner && fp !== owner) {
    return `this child runs shards assigned by the parent ${owner}; another certificate cannot take them over (stop that pool first, or restart the child)`
  }
  return null
}

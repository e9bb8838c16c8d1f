/** Turns the seed-style `tls` / `link` options into the link layer's options. */
import type { LinkTuning, TlsFilesOptions } from './options.js'
import type { LinkCommonOptions, LinkTlsOptions } from '../net/index.js'

export function linkTls(tls: TlsFilesOptions, field: string): LinkTlsOptions {
  return {
    cert: tls.public,
    key: tls.private,
    trust: tls.trustedConnections ?? [],
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(tls.dhparam ? { dhparam: tls.dhparam } : {}),
    fields: { cert: `${field}.public`, key: `${field}.private`, trust: `${field}.trustedConnections`, dhparam: `${field}.dhparam` },
  }
}

export function linkTimings(t: LinkTuning): Partial<LinkCommonOptions> {
  return {
    ...(t.heartbeatInterval ? { heartbeatIntervalMs: t.heartbeatInterval } : {}),
    ...(t.heartbeatTimeout ? { heartbeatTimeoutMs: t.heartbeatTimeout } : {}),
    ...(t.maxFrameBytes ? { maxFrameBytes: t.maxFrameBytes } : {}),
  }
}

/**
 * Who may hold a connection to the child before proving who it is (pure: no sockets, no timers).
 *
 * Two pools, each bounded:
 * - unproven: accepted, TLS not finished or the peer was refused and is being closed. Capped in
 *   total and per remote address (IPv6 per /64, what one host can usually pick from).
 * - pending: TLS done with a trusted certificate, HELLO not yet received. Capped per certificate
 *   fingerprint, so one trusted certificate cannot take the slots of another (the real parent's).
 *
 * A full pool never refuses the newcomer: it evicts a connection already in it, the one that
 * made the least progress (refused and closing, then silent, then mid-handshake), oldest first.
 * A flood therefore pushes out its own older sockets, and the real parent, which sends its
 * ClientHello at once and then moves to its own certificate's pool, is not locked out.
 *
 * Under a flood the listener accepts connections in bursts, before reading any of them, so at
 * accept time a real ClientHello and an idle socket look the same. The caps are therefore applied
 * by trim(), once the burst was read; until then a pool may exceed its cap by up to one burst
 * (bounded by the listen backlog).
 */
import { isIP } from 'node:net'

export interface AdmissionLimits {
  /** Unproven connections from all addresses together. */
  maxUnauthenticated: number
  /** Unproven connections from one address (IPv6: one /64). */
  maxUnauthenticatedPerAddress: number
  /** Connections per trusted certificate that finished TLS but not HELLO. */
  maxPendingHandshakes: number
}

/** Eviction order: lower goes first. */
export const Progress = {
  /** Refused (GOAWAY sent or being torn down): evicting it only saves a descriptor sooner. */
  REFUSED: 0,
  /** Not a single byte received. */
  SILENT: 1,
  /** Bytes received, handshake not done. */
  STARTED: 2,
} as const

export type Eviction<C> = { conn: C; pool: 'address' | 'global' | 'certificate'; key: string }

export class Admission<C> {
  private readonly unproven = new Set<C>()
  private readonly byAddress = new Map<string, Set<C>>()
  private readonly byCert = new Map<string, Set<C>>()
  private readonly place = new Map<C, { address: string; cert: string | null }>()

  constructor(
    readonly limits: AdmissionLimits,
    /** The connection's Progress value, read when choosing whom to evict. */
    private readonly progress: (c: C) => number,
  ) {}

  /**
   * A new connection from `address`. Nothing is closed yet: a connection accepted in the same
   * burst as others has not been read from, so its progress is unknown. Call trim() once the
   * burst's data had a chance to arrive. (A burst is at most the listen backlog.)
   */
  admit(c: C, address: string): void {
    const key = addressKey(address)
    this.place.set(c, { address: key, cert: null })
    this.unproven.add(c)
    setOf(this.byAddress, key).add(c)
  }

  /** Closes down to the caps: per address first, then in total. Returns whom to close. */
  trim(): Eviction<C>[] {
    const out: Eviction<C>[] = []
    const perAddress = this.limits.maxUnauthenticatedPerAddress
    for (const [key, pool] of [...this.byAddress]) {
      while (pool.size > perAddress) out.push({ conn: this.evict(pool), pool: 'address', key })
    }
    while (this.unproven.size > this.limits.maxUnauthenticated) out.push({ conn: this.evict(this.unproven), pool: 'global', key: '' })
    return out
  }

  /** Whether trim() has anything to do. */
  get overCap(): boolean {
    if (this.unproven.size > this.limits.maxUnauthenticated) return true
    for (const s of this.byAddress.values()) if (s.size > this.limits.maxUnauthenticatedPerAddress) return true
    return false
  }

  /**
   * TLS finished with the trusted certificate `fingerprint`: the connection leaves the address
   * pools for that certificate's own. Returns the connections to close to make room.
   */
  prove(c: C, fingerprint: string): Eviction<C>[] {
    const at = this.place.get(c)
    if (!at || at.cert !== null) return []
    this.leaveUnproven(c, at.address)
    const out: Eviction<C>[] = []
    const pool = setOf(this.byCert, fingerprint)
    if (pool.size >= this.limits.maxPendingHandshakes) out.push({ conn: this.evict(pool), pool: 'certificate', key: fingerprint })
    at.cert = fingerprint
    pool.add(c)
    return out
  }

  /** The connection closed or became the session: it no longer counts. */
  release(c: C): void {
    const at = this.place.get(c)
    if (!at) return
    if (at.cert === null) this.leaveUnproven(c, at.address)
    else deleteFrom(this.byCert, at.cert, c)
    this.place.delete(c)
  }

  has(c: C): boolean {
    return this.place.has(c)
  }

  get counts(): { unauthenticated: number; pendingHello: number; addresses: number } {
    let pendingHello = 0
    for (const s of this.byCert.values()) pendingHello += s.size
    return { unauthenticated: this.unproven.size, pendingHello, addresses: this.byAddress.size }
  }

  /** Removes and returns the least advanced, oldest member of `pool` (never empty here). */
  private evict(pool: Set<C>): C {
    let victim: C | undefined
    let best = Infinity
    for (const c of pool) {
      const p = this.progress(c)
      if (p < best) {
        best = p
        victim = c
        if (p <= Progress.REFUSED) break
      }
    }
    this.release(victim!)
    return victim!
  }

  private leaveUnproven(c: C, address: string): void {
    this.unproven.delete(c)
    deleteFrom(this.byAddress, address, c)
  }
}

function setOf<C>(m: Map<string, Set<C>>, key: string): Set<C> {
  let s = m.get(key)
  if (!s) m.set(key, (s = new Set()))
  return s
}

function deleteFrom<C>(m: Map<string, Set<C>>, key: string, c: C): void {
  const s = m.get(key)
  if (!s) return
  s.delete(c)
  if (s.size === 0) m.delete(key)
}

/** The unit one host controls: an IPv4 address, or the /64 of an IPv6 one. */
export function addressKey(address: string): string {
  const bare = address.replace(/%.*$/, '')
  if (isIP(bare) !== 6) return bare
  const groups = expandIPv6(bare)
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : bare
}

function expandIPv6(a: string): string[] | null {
  if (a.includes('.')) return null // embedded IPv4: rare on the wire; keep the whole address
  const [head, tail] = a.split('::') as [string, string | undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const zeros = tail === undefined ? 0 : 8 - h.length - t.length
  const all = [...h, ...Array<string>(Math.max(0, zeros)).fill('0'), ...t]
  return all.length === 8 ? all.map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')) : null
}

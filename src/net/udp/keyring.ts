import { UdpError } from './errors.js'
import { validateKeys, type UdpKeys } from './keys.js'
import { ReplayWindow } from './replay.js'

/** One epoch's keys plus what is tracked per key: its replay window and how much it has been used. */
export interface KeyState {
  keys: UdpKeys
  /** What the packet header carries. Consecutive epochs always differ in it. */
  epochByte: number
  replay: ReplayWindow
  /** Packets sealed under this key (AES-GCM's confidentiality limit counts these). */
  sent: number
  since: number
  rekeyAsked: boolean
}

/**
 * Current and previous epoch. We send only with the current keys; the previous ones still open
 * packets for a while, because the peer switches when its UDP_REKEY round trip over TLS completes,
 * not at the same instant as us.
 */
export class KeyRing {
  current: KeyState
  previous: KeyState | null = null

  constructor(keys: UdpKeys, now: number) {
    this.current = KeyRing.state(keys, now)
  }

  /** Keys for an incoming header's epoch byte, or null (unknown or already discarded epoch). */
  select(epochByte: number): KeyState | null {
    if (epochByte === this.current.epochByte) return this.current
    if (this.previous && epochByte === this.previous.epochByte) return this.previous
    return null
  }

  /** Move to the next epoch. Throws UdpError unless `keys.epoch` is exactly current + 1. */
  rotate(keys: UdpKeys, now: number): void {
    validateKeys(keys)
    const want = this.current.keys.epoch + 1
    if (keys.epoch !== want) throw new UdpError(`rekey must move to epoch ${want} (got ${keys.epoch})`, 'UDP_REKEY')
    this.previous = this.current
    this.current = KeyRing.state(keys, now)
  }

  dropPrevious(): void {
    this.previous = null
  }

  /** True once per epoch, when it is time to ask for the next one. */
  shouldAskRekey(now: number, afterPackets: number, afterMs: number): boolean {
    const k = this.current
    if (k.rekeyAsked || (k.sent < afterPackets && now - k.since < afterMs)) return false
    k.rekeyAsked = true
    return true
  }

  private static state(keys: UdpKeys, now: number): KeyState {
    return { keys, epochByte: keys.epoch & 0xff, replay: new ReplayWindow(1024), sent: 0, since: now, rekeyAsked: false }
  }
}

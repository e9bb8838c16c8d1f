/**
 * Anti-replay sliding window (RFC 4303 §3.4.3), one per key epoch and direction.
 *
 * The channel consults it only AFTER the AEAD tag verified: otherwise an attacker could forge a
 * header with a huge pn and slide the window past every legitimate packet. The bitmap is a ring of
 * `size` bits indexed by pn mod size, so sliding forward clears only the bits that are reused.
 */
export class ReplayWindow {
  private readonly words: Uint32Array
  private top = -1

  constructor(readonly size = 1024) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) throw new RangeError('replay window size must be a positive multiple of 32')
    this.words = new Uint32Array(size / 32)
  }

  /** Highest pn accepted so far (-1 before the first). */
  get highest(): number {
    return this.top
  }

  /** Would `pn` be accepted? Does not record it. */
  check(pn: number): boolean {
    if (pn > this.top) return true
    if (this.top - pn >= this.size) return false
    return !this.has(pn)
  }

  /**
   * Record `pn` and return true if it is new and inside the window; false for duplicates and for
   * packets older than the window (which we can no longer tell apart from replays).
   */
  accept(pn: number): boolean {
    if (!Number.isSafeInteger(pn) || pn < 0) return false
    if (pn > this.top) {
      this.advance(pn)
      this.set(pn)
      return true
    }
    if (this.top - pn >= this.size) return false
    if (this.has(pn)) return false
    this.set(pn)
    return true
  }

  private advance(pn: number): void {
    const shift = pn - this.top
    if (shift >= this.size) {
      this.words.fill(0)
    } else {
      // Clear the slots that pn-size+1 .. pn will reuse, i.e. top+1 .. pn.
      for (let p = this.top + 1; p <= pn; p++) this.clear(p)
    }
    this.top = pn
  }

  private slot(pn: number): [number, number] {
    const bit = pn % this.size
    return [bit >>> 5, 1 << (bit & 31)]
  }

  private has(pn: number): boolean {
    const [w, m] = this.slot(pn)
    return (this.words[w]! & m) !== 0
  }

  private set(pn: number): void {
    const [w, m] = this.slot(pn)
    this.words[w] = this.words[w]! | m
  }

  private clear(pn: number): void {
    const [w, m] = this.slot(pn)
    this.words[w] = this.words[w]! & ~m
  }
}

/**
 * The calls one endpoint has in flight, by id: a Map that never becomes empty. V8 gives a Map that
 * empties a new, smaller table, and the next call then grows it again; on a hop with one call in
 * flight at a time (the usual case) that is a table per call, in the manager's young generation,
 * for every instance a fan-out reaches. One permanent entry under id 0, which no call uses, keeps
 * the table; everything outside this class sees only the calls.
 */
const KEEP = 0

export class CallTable<V> {
  private readonly map = new Map<number, V | null>([[KEEP, null]])

  get size(): number {
    return this.map.size - 1
  }

  get(id: number): V | undefined {
    return id === KEEP ? undefined : (this.map.get(id) ?? undefined)
  }

  has(id: number): boolean {
    return id !== KEEP && this.map.has(id)
  }

  set(id: number, value: V): void {
    if (id === KEEP) throw new RangeError('call id 0 is reserved')
    this.map.set(id, value)
  }

  delete(id: number): boolean {
    return id !== KEEP && this.map.delete(id)
  }

  /** The calls, in the order they were added. */
  *entries(): IterableIterator<[number, V]> {
    for (const [id, value] of this.map) if (id !== KEEP) yield [id, value as V]
  }

  ids(): number[] {
    const ids: number[] = []
    for (const id of this.map.keys()) if (id !== KEEP) ids.push(id)
    return ids
  }
}

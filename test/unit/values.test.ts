import { describe, expect, it } from 'vitest'
import { deserializeValue, serializeValue } from '../../src/ipc/values.js'

const roundTrip = (v: unknown) => deserializeValue(JSON.parse(JSON.stringify(serializeValue(v))))

describe('value semantics', () => {
  it('keeps Map, Set, BigInt, Date, undefined, NaN and nested objects through JSON', () => {
    const value = {
      map: new Map<unknown, unknown>([[1, { a: new Set([1, 2]) }], ['k', 2n]]),
      big: 123456789012345678901234567890n,
      date: new Date(1700000000000),
      undef: undefined,
      nan: NaN,
      inf: -Infinity,
      negZero: -0,
      nested: { deep: [1, undefined, { x: null }] },
      bytes: new Uint8Array([1, 2, 255]),
      re: /ab+c/gi,
    }
    const out = roundTrip(value) as typeof value
    expect(out.map).toBeInstanceOf(Map)
    expect(out.map.get(1)).toEqual({ a: new Set([1, 2]) })
    expect(out.map.get('k')).toBe(2n)
    expect(out.big).toBe(123456789012345678901234567890n)
    expect(out.date).toEqual(new Date(1700000000000))
    expect('undef' in out && out.undef === undefined).toBe(true)
    expect(out.nan).toBeNaN()
    expect(out.inf).toBe(-Infinity)
    expect(Object.is(out.negZero, -0)).toBe(true)
    expect(out.nested.deep).toEqual([1, undefined, { x: null }])
    expect(out.bytes).toEqual(new Uint8Array([1, 2, 255]))
    expect(out.re.source).toBe('ab+c')
    expect(out.re.flags).toBe('gi')
  })

  it('keeps an Error with its name, message, stack, code and cause', () => {
    const err = Object.assign(new TypeError('boom'), { code: 'E_BOOM' })
    err.cause = new Error('root')
    const out = roundTrip(err) as Error & { code: string }
    expect(out).toBeInstanceOf(Error)
    expect(out.name).toBe('TypeError')
    expect(out.message).toBe('boom')
    expect(out.stack).toBe(err.stack)
    expect(out.code).toBe('E_BOOM')
    expect((out.cause as Error).message).toBe('root')
  })

  it('uses toJSON of class instances, own properties otherwise; functions become undefined', () => {
    class WithJson {
      secret = 1
      toJSON() {
        return { id: '1' }
      }
    }
    class Plain {
      a = 1
      method() {}
    }
    expect(roundTrip({ w: new WithJson(), p: new Plain(), f: () => 1 })).toEqual({ w: { id: '1' }, p: { a: 1 }, f: undefined })
  })

  it('does not confuse a user object that uses the tag key', () => {
    expect(roundTrip({ __dsv: 'b', v: '1' })).toEqual({ __dsv: 'b', v: '1' })
  })

  it('names the path of a circular reference', () => {
    const a: Record<string, unknown> = { list: [] }
    ;(a.list as unknown[]).push(a)
    expect(() => serializeValue(a)).toThrow(/circular reference at \$\.list\[0\]/)
  })
})

describe('value codec fast paths', () => {
  it('sends plain JSON as it is, and still encodes everything that needs it', async () => {
    const { serializeValue, deserializeValue } = await import('../../src/ipc/values.js')
    const plain = { ids: ['1', '2'], n: 3, nested: [{ a: true, b: null }] }
    expect(serializeValue(plain)).toBe(plain)
    expect(deserializeValue(plain)).toBe(plain)
    for (const rich of [{ a: undefined }, [1, -0], { m: new Map([[1, 2]]) }, { __dsv: 'x' }, [NaN], { d: new Date(5) }, Object.create({ inherited: 1 })]) {
      expect(serializeValue(rich)).not.toBe(rich)
      expect(deserializeValue(JSON.parse(JSON.stringify(serializeValue(rich))))).toEqual(rich instanceof Object && Object.getPrototypeOf(rich) !== Object.prototype && !Array.isArray(rich) ? {} : rich)
    }
    // An encoded value says so at its top; the receiver never walks a plain one looking for tags.
    for (const rich of [{ a: { b: [undefined] } }, [[1n]], { n: { __dsv: 'u' } }, undefined, new Date(5)]) {
      expect(Object.keys(serializeValue(rich) as object)).toContain('__dsv')
      expect(deserializeValue(JSON.parse(JSON.stringify(serializeValue(rich))))).toEqual(rich)
    }
    const deep: any = {}
    let cur = deep
    for (let i = 0; i < 100; i++) cur = cur.next = {}
    expect(deserializeValue(JSON.parse(JSON.stringify(serializeValue(deep))))).toEqual(deep)
    const circular: any = { a: 1 }
    circular.self = circular
    expect(() => serializeValue(circular)).toThrow(/circular reference at \$\.self/)
  })
})

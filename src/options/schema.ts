/**
 * One way to check every option, nested ones included: a tiny schema language, hand-written
 * because our needs are small (no runtime dependency for it), and because the errors must read the
 * same everywhere: `OptionsError` naming the field path (`machines.points[1].tls.public`) and the
 * fix. Unknown keys are errors with the closest known name, so a typo never passes silently.
 * The same schemas check what a parent sends a child, where every field is untrusted input.
 */
import { OptionsError } from '../errors.js'

export interface Schema<T> {
  /** Checks `value` at `field` and returns it normalised; throws OptionsError. */
  parse(value: unknown, field: string): T
  /** What the schema accepts, for error messages. */
  readonly expects: string
}

/** A key of an object schema that may be absent; `fallback` fills it in. */
export interface Optional<T> {
  readonly optional: Schema<T>
  readonly fallback?: () => T
}

type Field = Schema<unknown> | Optional<unknown>
type Shape = Record<string, Field>
type Out<F> = F extends Optional<infer T> ? T | undefined : F extends Schema<infer T> ? T : never
export type Parsed<S extends Shape> = { [K in keyof S]: Out<S[K]> }

export function schema<T>(expects: string, parse: (value: unknown, field: string) => T): Schema<T> {
  return { expects, parse }
}

export function optional<T>(s: Schema<T>, fallback?: T | (() => T)): Optional<T> {
  if (fallback === undefined) return { optional: s }
  return { optional: s, fallback: typeof fallback === 'function' ? (fallback as () => T) : () => fallback }
}

function fail(field: string, expects: string, value: unknown): never {
  throw new OptionsError(field, `expected ${expects}, got ${show(value)}`)
}

export function show(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  try {
    const s = JSON.stringify(value)
    return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 77)}...` : s
  } catch {
    return String(value)
  }
}

export function int(min = 0, max = Number.MAX_SAFE_INTEGER): Schema<number> {
  const expects = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`
  return schema(expects, (v, f) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(f, expects, v)))
}

export function bool(): Schema<boolean> {
  return schema('true or false', (v, f) => (typeof v === 'boolean' ? v : fail(f, 'true or false', v)))
}

export function str(maxLength = 4096): Schema<string> {
  const expects = 'a non-empty string'
  return schema(expects, (v, f) => (typeof v === 'string' && v.length > 0 && v.length <= maxLength ? v : fail(f, expects, v)))
}

/** One of fixed strings; `ignoreCase` also accepts 'PROCESSES' for 'processes'. */
export function oneOf<T extends string>(values: readonly T[], ignoreCase = false): Schema<T> {
  const expects = `one of ${values.map((v) => `'${v}'`).join(', ')}`
  return schema(expects, (v, f) => {
    const s = typeof v === 'string' && ignoreCase ? v.toLowerCase() : v
    return values.includes(s as T) ? (s as T) : fail(f, expects, v)
  })
}

export function arrayOf<T>(item: Schema<T>, maxLength = 100_000): Schema<T[]> {
  const expects = `an array of ${item.expects}`
  return schema(expects, (v, f) => {
    if (!Array.isArray(v)) return fail(f, expects, v)
    if (v.length > maxLength) throw new OptionsError(f, `has ${v.length} entries; at most ${maxLength} are allowed`)
    return v.map((x, i) => item.parse(x, `${f}[${i}]`))
  })
}

export function recordOf<T>(value: Schema<T>, maxKeys = 10_000): Schema<Record<string, T>> {
  const expects = `an object of ${value.expects}`
  return schema(expects, (v, f) => {
    if (!isPlainObject(v)) return fail(f, expects, v)
    const keys = Object.keys(v)
    if (keys.length > maxKeys) throw new OptionsError(f, `has ${keys.length} keys; at most ${maxKeys} are allowed`)
    const out: Record<string, T> = {}
    for (const k of keys) out[k] = value.parse(v[k], `${f}.${k}`)
    return out
  })
}

/**
 * An object with known keys. Absent optional keys get their fallback (or stay undefined); any other
 * key is an error that names the closest known key, or says what to write instead when `renamed`
 * knows the key (another library's name for an option).
 */
export function object<S extends Shape>(shape: S, opts: { allowUnknown?: boolean; renamed?: Readonly<Record<string, string>> } = {}): Schema<Parsed<S>> {
  const known = Object.keys(shape)
  return schema('an object', (v, f) => {
    if (!isPlainObject(v)) return fail(f, 'an object', v)
    if (!opts.allowUnknown) {
      for (const key of Object.keys(v)) {
        if (!(key in shape)) throw unknownKey(f, key, known, opts.renamed)
      }
    }
    const out: Record<string, unknown> = {}
    for (const key of known) {
      const spec = shape[key]
      const path = f ? `${f}.${key}` : key
      const raw = v[key]
      if ('optional' in spec) {
        if (raw === undefined) {
          if (spec.fallback) out[key] = spec.fallback()
          continue
        }
        out[key] = spec.optional.parse(raw, path)
      } else {
        if (raw === undefined) throw new OptionsError(path, `is required (${spec.expects})`)
        out[key] = spec.parse(raw, path)
      }
    }
    return out as Parsed<S>
  })
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function unknownKey(field: string, key: string, known: string[], renamed?: Readonly<Record<string, string>>): OptionsError {
  const path = field ? `${field}.${key}` : key
  if (renamed && Object.hasOwn(renamed, key)) return new OptionsError(path, `unknown option; ${renamed[key]}`)
  const near = closest(key, known)
  const hint = near ? `did you mean '${near}'?` : `known options here: ${known.join(', ')}`
  return new OptionsError(path, `unknown option; ${hint}`)
}

/** The known name within edit distance 3 (or sharing a lowercase form) of a typo. */
export function closest(word: string, candidates: string[]): string | null {
  let best: string | null = null
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c)
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return bestDistance <= Math.min(3, Math.max(2, Math.floor(word.length / 3))) ? best : null
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]
}

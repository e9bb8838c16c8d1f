/**
 * The Prometheus text exposition format, version 0.0.4: metric families in, text out. Pure.
 *
 * Written here rather than taken from prom-client because the package's runtime dependencies are
 * limited to Node builtins, msgpackr, commander and ws; because every value is read from a snapshot
 * at scrape time (prom-client's metric objects are set as things change and live in a registry);
 * and because the format is small and fixed. Tests check the output with an independent parser.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram'

export type Labels = Record<string, string | number>

export interface Sample {
  /** Appended to the family name (`_bucket`, `_sum`, `_count` for histograms); empty otherwise. */
  suffix?: '' | '_bucket' | '_sum' | '_count'
  labels?: Labels
  value: number
}

export interface MetricFamily {
  /** Counters end in `_total`, as 0.0.4 writes them. */
  name: string
  help: string
  type: MetricType
  samples: Sample[]
}

/** What a histogram knows: upper bounds (seconds, ascending, without +Inf) and the count in each. */
export interface HistogramSnapshot {
  buckets: readonly number[]
  /** counts[i] observations were ≤ buckets[i] and > buckets[i-1] (not cumulative); one more entry for +Inf. */
  counts: readonly number[]
  sum: number
  count: number
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** `1`, `0.25`, `NaN`, `+Inf`, `-Inf`. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function renderLabels(labels: Labels | undefined): string {
  if (!labels) return ''
  const entries = Object.entries(labels)
  if (entries.length === 0) return ''
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(String(v))}"`).join(',')}}`
}

/** The samples of one histogram series: cumulative `_bucket`s up to `+Inf`, then `_sum` and `_count`. */
export function histogramSamples(h: HistogramSnapshot, labels: Labels = {}): Sample[] {
  const samples: Sample[] = []
  let cumulative = 0
  h.buckets.forEach((le, i) => {
    cumulative += h.counts[i] ?? 0
    samples.push({ suffix: '_bucket', labels: { ...labels, le: formatValue(le) }, value: cumulative })
  })
  samples.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: h.count })
  samples.push({ suffix: '_sum', labels, value: h.sum })
  samples.push({ suffix: '_count', labels, value: h.count })
  return samples
}

/**
 * Renders families in order. Throws on a name or label that the format cannot carry, or a family
 * given twice: those are bugs in the caller, better found by a test than by a scraper.
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const seen = new Set<string>()
  const lines: string[] = []
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) throw new Error(`invalid metric name ${JSON.stringify(f.name)}`)
    if (seen.has(f.name)) throw new Error(`metric ${f.name} is listed twice`)
    seen.add(f.name)
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`)
    for (const s of f.samples) {
      for (const label of Object.keys(s.labels ?? {})) {
        if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new Error(`invalid label name ${JSON.stringify(label)} on ${f.name}`)
      }
      lines.push(`${f.name}${s.suffix ?? ''}${renderLabels(s.labels)} ${formatValue(s.value)}`)
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}

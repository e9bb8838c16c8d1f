/**
 * Metrics and health for operators: Prometheus text at `/metrics`, `/healthz`, `/status`.
 * A manager exposes them with `createMetricsServer({ status: () => manager.status(), counters: () => recorder.counters() }, { port })`.
 */
export { createMetricsServer, respond, METRICS_PATHS, type MetricsServer, type MetricsServerOptions, type MetricsSource } from './server.js'
export { MetricsRecorder, emptyCounters, LATENCY_BUCKETS, REQUEST_KINDS, type MetricCounters, type RequestKind, type RequestStats } from './counters.js'
export { collectFamilies, INSTANCE_STATES, SHARD_STATES } from './collect.js'
export { health, type Health } from './health.js'
export { renderExposition, histogramSamples, formatValue, CONTENT_TYPE, type MetricFamily, type Sample, type HistogramSnapshot, type Labels, type MetricType } from './exposition.js'

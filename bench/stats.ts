/** Order statistics of a benchmark's samples (nearest rank, as the dashboard computes them). */

/** The `q` quantile (0..1) of `values` by nearest rank; NaN for no values. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

/** The arithmetic mean; NaN for no values. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  return values.reduce((sum, value) => sum + value, 0) / values.length
}

/** Median, p95 and mean of some latencies. */
export interface LatencySummary {
  readonly count: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly meanMs: number
}

/** Summarises latencies in milliseconds. */
export function summarize(latenciesMs: readonly number[]): LatencySummary {
  return {
    count: latenciesMs.length,
    p50Ms: quantile(latenciesMs, 0.5),
    p95Ms: quantile(latenciesMs, 0.95),
    meanMs: mean(latenciesMs),
  }
}

/** `value / baseline`, or null when either is not a positive finite number. */
export function ratio(value: number | null, baseline: number | null): number | null {
  if (value === null || baseline === null) return null
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline <= 0) return null
  return value / baseline
}

/** Summaries of a benchmark's samples, by the repo's one quantile rule (@cohort/protocol). */
import { quantile } from '@cohort/protocol'

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

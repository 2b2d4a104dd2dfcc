import { quantileOfSorted } from '@cohort/protocol'

/** Which kind of request a run sends. */
export type RunMode = 'single' | 'ensemble' | 'early-exit'

/** One finished request of any mode, as the charts see it. */
export interface RunPoint {
  /** When it finished, in ms since its run started. */
  readonly atMs: number
  /** Null when the request ended in an error. */
  readonly latencyMs: number | null
  readonly correct: boolean
  readonly degraded: boolean
  /** Early exit only: which exit answered (0-based). */
  readonly exitIndex: number | null
  /** Early exit only: the request's cost in the manifest's units. */
  readonly cost: number | null
}

/** The charts' series, one value per finished request, aligned on `seconds`. */
export interface LiveSeries {
  /** When each request finished, in seconds since the run started (the x axis). */
  readonly seconds: number[]
  readonly p50Ms: (number | null)[]
  readonly p95Ms: (number | null)[]
  /** Requests finished per second over the trailing throughput window. */
  readonly throughput: (number | null)[]
  /** Running accuracy in percent (errors count as wrong, as in the run's stats). */
  readonly accuracy: (number | null)[]
  /** Running cost reduction against cloud-only, in percent (early exit only). */
  readonly costReduction: (number | null)[]
}

/** How the series smooth. */
export interface SeriesOptions {
  /** Latency quantiles over this many trailing answered requests. */
  readonly latencyWindow: number
  /** Throughput over this trailing span of time. */
  readonly throughputWindowMs: number
  /** Cost of one cloud-only request; null when the run has no costs. */
  readonly cloudOnlyCost: number | null
}

/** The defaults: a short rolling window so the charts show change while a run streams. */
export const DEFAULT_SERIES_OPTIONS: SeriesOptions = {
  latencyWindow: 50,
  throughputWindowMs: 2_000,
  cloudOnlyCost: null,
}

/** The q-quantile of ascending `sorted` by the repo's one rule; null for no latencies. */
function quantile(sorted: readonly number[], q: number): number | null {
  return sorted.length === 0 ? null : quantileOfSorted(sorted, q)
}

/** Derives every chart's series from a run's points (in the order they finished). */
export function liveSeries(
  points: readonly RunPoint[],
  options: SeriesOptions = DEFAULT_SERIES_OPTIONS,
): LiveSeries {
  const series: LiveSeries = {
    seconds: [],
    p50Ms: [],
    p95Ms: [],
    throughput: [],
    accuracy: [],
    costReduction: [],
  }
  const recent: number[] = []
  let correct = 0
  let costSum = 0
  let costCount = 0
  let windowStart = 0
  points.forEach((point, i) => {
    series.seconds.push(point.atMs / 1_000)
    if (point.latencyMs !== null) {
      recent.push(point.latencyMs)
      if (recent.length > options.latencyWindow) recent.shift()
    }
    const sorted = [...recent].sort((a, b) => a - b)
    series.p50Ms.push(quantile(sorted, 0.5))
    series.p95Ms.push(quantile(sorted, 0.95))

    while ((points[windowStart]?.atMs ?? point.atMs) <= point.atMs - options.throughputWindowMs)
      windowStart++
    // Early in a run the window is only as long as the run so far; a rate over the first few
    // milliseconds says nothing (one answer after 2 ms is not 500 req/s), so it starts at a
    // quarter of the window.
    const spanMs = Math.min(options.throughputWindowMs, point.atMs)
    series.throughput.push(
      spanMs >= options.throughputWindowMs / 4 ? ((i - windowStart + 1) * 1_000) / spanMs : null,
    )

    if (point.correct) correct++
    series.accuracy.push((100 * correct) / (i + 1))

    if (point.cost !== null) {
      costSum += point.cost
      costCount++
    }
    const cloud = options.cloudOnlyCost
    series.costReduction.push(
      cloud !== null && cloud > 0 && costCount > 0 ? 100 * (1 - costSum / costCount / cloud) : null,
    )
  })
  return series
}

/** How many requests each of `exits` exits answered (errors and other modes count nowhere). */
export function exitHistogram(points: readonly RunPoint[], exits: number): number[] {
  const counts = Array.from({ length: exits }, () => 0)
  for (const point of points) {
    if (point.exitIndex !== null && point.exitIndex < exits)
      counts[point.exitIndex] = (counts[point.exitIndex] ?? 0) + 1
  }
  return counts
}

/** A run's figures so far (for modes whose session keeps none of its own). */
export interface RunSummary {
  readonly done: number
  readonly errors: number
  readonly degraded: number
  /** Percent; errors count as wrong. */
  readonly accuracy: number | null
  readonly p50Ms: number | null
  readonly p95Ms: number | null
  /** Finished requests per second from the run's start to its last finished request. */
  readonly requestsPerSecond: number | null
}

/** Sums up a run's points. */
export function summarize(points: readonly RunPoint[]): RunSummary {
  const latencies = points.flatMap((point) => (point.latencyMs === null ? [] : [point.latencyMs]))
  latencies.sort((a, b) => a - b)
  const correct = points.filter((point) => point.correct).length
  const lastAtMs = points.at(-1)?.atMs ?? 0
  return {
    done: points.length,
    errors: points.length - latencies.length,
    degraded: points.filter((point) => point.degraded).length,
    accuracy: points.length === 0 ? null : (100 * correct) / points.length,
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    requestsPerSecond: lastAtMs > 0 ? (1_000 * points.length) / lastAtMs : null,
  }
}

/**
 * The one order statistic of the repo: devices' profiles, the planner, the dashboard's live
 * figures, the benchmarks and the tests all rank timings alike, so their numbers compare.
 */

/**
 * The `q` quantile (0..1) of `values` by nearest rank: the value at index ⌊q·n⌋ of the sorted
 * values (the largest for q = 1). Always one of the values, never an interpolation; NaN when empty.
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return quantileOfSorted(sorted, q)
}

/** `quantile` of values already in ascending order (no copy, no sort). */
export function quantileOfSorted(sorted: readonly number[], q: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.floor(q * sorted.length)))
  return sorted[index] ?? Number.NaN
}

/** The median by the same rule (the upper middle of an even count); NaN when empty. */
export const median = (values: readonly number[]): number => quantile(values, 0.5)

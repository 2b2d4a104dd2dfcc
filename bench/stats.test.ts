import { describe, expect, it } from 'vitest'
import { mean, quantile, ratio, summarize } from './stats.ts'

describe('quantile', () => {
  it('takes the nearest rank of the sorted values', () => {
    const values = [5, 1, 4, 2, 3]
    expect(quantile(values, 0.5)).toBe(3)
    expect(quantile(values, 0)).toBe(1)
    expect(quantile(values, 0.95)).toBe(5)
    expect(quantile(values, 1)).toBe(5)
  })
  it('p95 of 1..100 is 96 (nearest rank above 95%)', () => {
    expect(
      quantile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        0.95,
      ),
    ).toBe(96)
  })
  it('is NaN without values and does not reorder its input', () => {
    expect(quantile([], 0.5)).toBeNaN()
    const values = [3, 1, 2]
    quantile(values, 0.5)
    expect(values).toEqual([3, 1, 2])
  })
})

describe('summarize', () => {
  it('reports count, median, p95 and mean', () => {
    expect(summarize([10, 20, 30, 40])).toEqual({ count: 4, p50Ms: 30, p95Ms: 40, meanMs: 25 })
    expect(mean([])).toBeNaN()
  })
})

describe('ratio', () => {
  it('divides by a positive baseline and is null otherwise', () => {
    expect(ratio(6, 3)).toBe(2)
    expect(ratio(6, 0)).toBeNull()
    expect(ratio(null, 3)).toBeNull()
    expect(ratio(Number.NaN, 3)).toBeNull()
  })
})

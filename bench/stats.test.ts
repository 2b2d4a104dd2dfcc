import { describe, expect, it } from 'vitest'
import { mean, ratio, summarize } from './stats.ts'

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

import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { median, quantile, quantileOfSorted } from './quantile.ts'

describe('quantile', () => {
  test('nearest rank on small samples', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(3)
    expect(quantile([5, 1, 4, 2, 3], 0.95)).toBe(5)
    expect(quantile([5, 1, 4, 2, 3], 1)).toBe(5)
    expect(quantile([5, 1, 4, 2, 3], 0)).toBe(1)
    expect(quantile([7], 0.01)).toBe(7)
    expect(median([])).toBeNaN()
    expect(quantileOfSorted([], 0.5)).toBeNaN()
  })

  test('p95 of 1..100 is 96 (the nearest rank above 95%)', () => {
    expect(
      quantile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        0.95,
      ),
    ).toBe(96)
  })

  test('leaves its input alone', () => {
    const values = [3, 1, 2]
    quantile(values, 0.5)
    expect(values).toEqual([3, 1, 2])
  })

  test('is always one of the values, monotone in q, and agrees with the sorted form', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true }), { minLength: 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, q) => {
          const at = quantile(values, q)
          expect(values).toContain(at)
          expect(quantile(values, Math.min(1, q + 0.1))).toBeGreaterThanOrEqual(at)
          const sorted = [...values].sort((a, b) => a - b)
          expect(quantileOfSorted(sorted, q)).toBe(at)
        },
      ),
    )
  })
})

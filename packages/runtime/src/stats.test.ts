import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { batchOneDims, randomInputs, zeroInputs } from './inputs.ts'
import { median, percentile } from './stats.ts'

describe('percentile', () => {
  test('nearest rank on small samples', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(percentile([1, 2, 3, 4], 50)).toBe(2)
    expect(percentile([5, 1, 4, 2, 3], 95)).toBe(5)
    expect(percentile([7], 1)).toBe(7)
    expect(median([])).toBeNaN()
  })

  test('is always one of the values, and monotone in p', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true }), { minLength: 1 }), (values) => {
        const p50 = percentile(values, 50)
        const p95 = percentile(values, 95)
        expect(values).toContain(p50)
        expect(p95).toBeGreaterThanOrEqual(p50)
      }),
    )
  })
})

describe('timing inputs', () => {
  const specs = [
    { name: 'input', shape: ['batch', 1, 28, 28] as (number | 'batch')[] },
    { name: 'slice_0', shape: ['batch', 16] as (number | 'batch')[] },
  ]

  test('have the manifest shapes at batch 1', () => {
    expect(batchOneDims(specs[0] as (typeof specs)[0])).toEqual([1, 1, 28, 28])
    const zeros = zeroInputs(specs)
    expect(zeros.input?.data).toHaveLength(784)
    expect(zeros.slice_0?.dims).toEqual([1, 16])
  })

  test('random inputs are deterministic per seed and lie in [0, 1)', () => {
    const a = randomInputs(specs, 7)
    const b = randomInputs(specs, 7)
    const c = randomInputs(specs, 8)
    expect([...(a.input?.data ?? [])]).toEqual([...(b.input?.data ?? [])])
    expect([...(a.input?.data ?? [])]).not.toEqual([...(c.input?.data ?? [])])
    expect((a.input?.data ?? []).every((v) => v >= 0 && v < 1)).toBe(true)
  })
})

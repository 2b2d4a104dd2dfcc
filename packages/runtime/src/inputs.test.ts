import { describe, expect, test } from 'vitest'
import { batchOneDims, randomInputs, zeroInputs } from './inputs.ts'

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

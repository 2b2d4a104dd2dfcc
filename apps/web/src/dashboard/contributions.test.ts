import { describe, expect, it } from 'vitest'
import { type Combine, sliceContributions } from './contributions.ts'

/** A linear head over two slices of 2 values each, 3 classes: z = W·[s0, s1] + b. */
const W = [
  [1, -2, 0.5, 3],
  [0, 1, -1, 2],
  [4, 0, 0, -1],
]
const b = [0.1, -0.2, 0.3]
const linear: Combine = async (slices) => {
  const x = slices.flatMap((slice) => Array.from(slice))
  return Float32Array.from(
    W.map((row, c) => row.reduce((sum, w, i) => sum + w * (x[i] ?? 0), b[c] ?? 0)),
  )
}

describe('sliceContributions', () => {
  const means = [Float32Array.of(0.5, 0.5), Float32Array.of(1, 0)]

  it('splits a linear head’s scores into baseline plus one contribution per slice', async () => {
    const slices = [Float32Array.of(2, -1), Float32Array.of(0.25, 3)]
    const split = await sliceContributions(linear, slices, means)
    expect(split.perSlice).toHaveLength(2)
    split.logits.forEach((score, c) => {
      const sum =
        (split.baseline[c] ?? 0) + split.perSlice.reduce((acc, row) => acc + (row[c] ?? 0), 0)
      expect(sum).toBeCloseTo(score, 5)
    })
    // Slice 0's contribution is W_0·(s_0 − μ_0): for class 0, 1·1.5 + (−2)·(−1.5) = 4.5.
    expect(split.perSlice[0]?.[0]).toBeCloseTo(4.5, 5)
  })

  it('gives an imputed slice no contribution', async () => {
    const split = await sliceContributions(
      linear,
      [Float32Array.of(2, -1), means[1] as Float32Array],
      means,
    )
    expect(split.perSlice[1]).toEqual([0, 0, 0])
  })

  it('refuses slices and means that do not pair up', async () => {
    await expect(sliceContributions(linear, [Float32Array.of(1, 2)], means)).rejects.toThrow(
      /1 slices but 2/,
    )
  })
})

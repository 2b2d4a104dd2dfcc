import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { dequantizeActivation, QUANT_LEVELS, quantizeActivation } from './quantize.ts'

// Golden values from training/cohort_train/quantize.py on the same float32 input.
const X = new Float32Array([
  0, 0.1, 0.2, 1.7, 3.3, 0.5, 2.2, 1.1, -1.25, 2.5, 0.3333, -0.7, 1e-3, 2.4999, 0, 1, 0.5, 0.5, 0.5,
  0.5, 0.5, 0.5, 0.5, 0.5,
])
const PY_Q = [
  [0, 8, 15, 131, 255, 39, 170, 85],
  [0, 255, 108, 37, 85, 255, 85, 153],
  [0, 0, 0, 0, 0, 0, 0, 0],
].flat()
const PY_MIN = [0.0, -1.25, 0.5]
const PY_SCALE = [0.012941176071763039, 0.014705882407724857, 1.0]
const PY_DEQUANTIZED = [
  [
    0.0, 0.10352940857410431, 0.19411763548851013, 1.6952940225601196, 3.299999952316284,
    0.5047058463096619, 2.200000047683716, 1.100000023841858,
  ],
  [-1.25, 2.5, 0.3382352590560913, -0.7058823704719543, 0.0, 2.5, 0.0, 1.0],
  [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
].flat()

describe('quantizeActivation', () => {
  test('matches the Python implementation byte for byte', () => {
    const a = quantizeActivation(X, 3)
    expect(a.sampleSize).toBe(8)
    expect([...a.q]).toEqual(PY_Q)
    expect([...a.min]).toEqual(PY_MIN)
    expect([...a.scale]).toEqual(PY_SCALE)
    expect([...dequantizeActivation(a)]).toEqual(PY_DEQUANTIZED)
  })

  test('a constant sample gets scale 1 and comes back exactly', () => {
    const a = quantizeActivation(new Float32Array([2.5, 2.5, 2.5]), 1)
    expect([...a.q]).toEqual([0, 0, 0])
    expect(a.scale[0]).toBe(1)
    expect([...dequantizeActivation(a)]).toEqual([2.5, 2.5, 2.5])
  })

  test('rejects a length that does not split into samples', () => {
    expect(() => quantizeActivation(new Float32Array(5), 2)).toThrow(RangeError)
    expect(() => quantizeActivation(new Float32Array(4), 0)).toThrow(RangeError)
  })

  test('maps min to 0, max to 255 and errs by at most half a step', () => {
    const sample = fc.array(
      fc.float({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true }),
      {
        minLength: 1,
        maxLength: 64,
      },
    )
    fc.assert(
      fc.property(fc.array(sample, { minLength: 1, maxLength: 4 }), (rows) => {
        const size = Math.min(...rows.map((r) => r.length))
        const x = new Float32Array(rows.flatMap((r) => r.slice(0, size)))
        const a = quantizeActivation(x, rows.length)
        const back = dequantizeActivation(a)
        for (let n = 0; n < rows.length; n++) {
          const row = x.subarray(n * size, (n + 1) * size)
          const q = a.q.subarray(n * size, (n + 1) * size)
          const lo = Math.min(...row)
          const hi = Math.max(...row)
          expect(a.min[n] === lo).toBe(true) // === : -0 and 0 are the same minimum
          // below the float32 resolution of (hi - lo) / 255 the scale falls back to 1 (everything -> 0)
          if (Math.fround(Math.fround(hi - lo) / QUANT_LEVELS) > 0) {
            expect(Math.max(...q)).toBe(QUANT_LEVELS)
            expect(Math.min(...q)).toBe(0)
          }
          const step = a.scale[n] as number
          // Half a step, plus float32 rounding: the scale, q * scale and min + q * scale are each
          // rounded to float32 (half an ulp, 2^-24 relative) at magnitudes up to |lo| + |hi|, and
          // the scale's rounding is multiplied by q (up to 255 steps of it).
          const rounding = (Math.abs(lo) + Math.abs(hi)) * 2 ** -24 * 4 + 1e-6
          for (let i = 0; i < size; i++) {
            const err = Math.abs((back[n * size + i] as number) - (row[i] as number))
            expect(err).toBeLessThanOrEqual(step / 2 + rounding)
          }
        }
      }),
    )
  })
})

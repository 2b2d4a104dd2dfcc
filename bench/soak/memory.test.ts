import { describe, expect, it } from 'vitest'
import { fitSlope, rssBytes } from './memory.ts'

describe('fitSlope', () => {
  it('recovers a line and says how sure it is', () => {
    const exact = fitSlope([0, 1, 2, 3].map((x) => ({ x, y: 5 + 2 * x })))
    expect(exact?.slope).toBeCloseTo(2)
    expect(exact?.standardError).toBeCloseTo(0)
    const noisy = fitSlope([0, 1, 2, 3, 4, 5].map((x) => ({ x, y: x % 2 === 0 ? 1 : -1 })))
    expect(noisy?.standardError).toBeGreaterThan(0)
    expect(
      fitSlope([
        { x: 0, y: 0 },
        { x: 1, y: 1 },
      ]),
    ).toBeNull()
    expect(fitSlope([0, 0, 0].map((x) => ({ x, y: x })))).toBeNull()
  })
})

describe('rssBytes', () => {
  it('reads this process and says 0 for one that is gone', () => {
    expect(rssBytes(process.pid)).toBeGreaterThan(10 * 2 ** 20)
    expect(rssBytes(2 ** 30)).toBe(0)
  })
})

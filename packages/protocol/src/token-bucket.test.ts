import { describe, expect, it } from 'vitest'
import { TokenBucket } from './token-bucket.ts'

describe('TokenBucket', () => {
  it('allows a burst, then refills at the configured rate', () => {
    let clock = 0
    const bucket = new TokenBucket({ burst: 3, perSecond: 10 }, () => clock)
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([
      true,
      true,
      true,
      false,
    ])
    clock += 99
    expect(bucket.take()).toBe(false)
    clock += 1
    expect(bucket.take()).toBe(true)
    expect(bucket.take()).toBe(false)
  })

  it('never holds more than the burst', () => {
    let clock = 0
    const bucket = new TokenBucket({ burst: 2, perSecond: 100 }, () => clock)
    clock += 60_000
    expect(bucket.available).toBe(2)
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false])
  })

  it('survives a clock that steps backwards', () => {
    let clock = 10_000
    const bucket = new TokenBucket({ burst: 1, perSecond: 1 }, () => clock)
    expect(bucket.take()).toBe(true)
    clock -= 5_000
    expect(bucket.take()).toBe(false)
    clock += 1_000
    expect(bucket.take()).toBe(true)
  })

  it('says how long until the next token', () => {
    let clock = 0
    const bucket = new TokenBucket({ burst: 1, perSecond: 4 }, () => clock)
    expect(bucket.msUntilToken()).toBe(0)
    expect(bucket.take()).toBe(true)
    expect(bucket.msUntilToken()).toBe(250)
    clock += 100
    expect(bucket.msUntilToken()).toBe(150)
    clock += 150
    expect(bucket.take()).toBe(true)
    expect(new TokenBucket({ burst: 1, perSecond: 0 }, () => 0).take()).toBe(true)
  })
})

import { describe, expect, it } from 'vitest'
import { KeyedBuckets, TokenBucket } from './rate-limit.ts'

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
})

describe('KeyedBuckets', () => {
  it('gives each key its own bucket and forgets full ones', () => {
    let clock = 0
    const buckets = new KeyedBuckets({ burst: 2, perSecond: 1 }, () => clock)
    expect([buckets.take('a'), buckets.take('a'), buckets.take('a')]).toEqual([true, true, false])
    expect(buckets.take('b')).toBe(true)
    expect(buckets.available('a')).toBe(0)
    expect(buckets.available('never seen')).toBe(2)
    clock = 2_000
    buckets.sweep()
    expect(buckets.size).toBe(0)
  })

  it('holds at most maxKeys buckets, dropping the oldest', () => {
    const buckets = new KeyedBuckets({ burst: 1, perSecond: 0 }, () => 0, 3)
    for (const key of ['a', 'b', 'c', 'd']) expect(buckets.take(key)).toBe(true)
    expect(buckets.size).toBe(3)
    // 'a' was forgotten, so it starts over with a full bucket.
    expect(buckets.take('a')).toBe(true)
    expect(buckets.take('d')).toBe(false)
  })
})

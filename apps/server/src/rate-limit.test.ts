import { describe, expect, it } from 'vitest'
import { KeyedBuckets } from './rate-limit.ts'

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

import { type RateLimitOptions, TokenBucket } from '@cohort/protocol'

export { type RateLimitOptions, TokenBucket }

/**
 * A newcomer to a full room (64) links to 63 peers: an offer or answer plus ~4 trickled candidates
 * each is ~315 messages within a second or two. A dropped candidate can silently break a link,
 * so the burst covers that; the steady rate still stops a flood.
 */
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { burst: 400, perSecond: 100 }

/** Room creations per client address: a host makes a few, a script trying to fill the server many. */
export const DEFAULT_CREATE_RATE_LIMIT: RateLimitOptions = { burst: 20, perSecond: 1 / 3 }

/**
 * Token buckets by key (a client address). A full bucket is the same as none, so `sweep` forgets
 * it and the map holds only recent senders; past `maxKeys` the oldest entry goes first, so a sender
 * with many addresses cannot grow the map without bound.
 */
export class KeyedBuckets {
  readonly #buckets = new Map<string, TokenBucket>()
  readonly #options: RateLimitOptions
  readonly #now: () => number
  readonly #maxKeys: number

  constructor(options: RateLimitOptions, now: () => number = Date.now, maxKeys = 100_000) {
    this.#options = options
    this.#now = now
    this.#maxKeys = maxKeys
  }

  /** Takes one token from `key`'s bucket; false means the message must be dropped. */
  take(key: string): boolean {
    let bucket = this.#buckets.get(key)
    if (!bucket) {
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next()
        if (!oldest.done) this.#buckets.delete(oldest.value)
      }
      bucket = new TokenBucket(this.#options, this.#now)
      this.#buckets.set(key, bucket)
    }
    return bucket.take()
  }

  /** Tokens left for `key` right now, without taking one. */
  available(key: string): number {
    return this.#buckets.get(key)?.available ?? this.#options.burst
  }

  /** Forgets the buckets that have refilled completely. */
  sweep(): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.available >= this.#options.burst) this.#buckets.delete(key)
    }
  }

  /** Keys with a bucket right now. */
  get size(): number {
    return this.#buckets.size
  }
}

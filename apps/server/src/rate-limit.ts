/** How many messages a socket may send: a burst, then a steady rate. */
export interface RateLimitOptions {
  /** Messages allowed at once; a device joining a full room trickles many ICE candidates. */
  readonly burst: number
  /** Messages per second added back to the bucket. */
  readonly perSecond: number
}

/**
 * A newcomer to a full room (64) links to 63 peers: an offer or answer plus ~4 trickled candidates
 * each is ~315 messages within a second or two. A dropped candidate can silently break a link,
 * so the burst covers that; the steady rate still stops a flood.
 */
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { burst: 400, perSecond: 100 }

/** A token bucket: one per socket. The clock is injected so tests never sleep. */
export class TokenBucket {
  readonly #options: RateLimitOptions
  readonly #now: () => number
  #tokens: number
  #updatedAt: number

  constructor(options: RateLimitOptions, now: () => number = Date.now) {
    this.#options = options
    this.#now = now
    this.#tokens = options.burst
    this.#updatedAt = now()
  }

  /** Takes one token; false means the message must be dropped. */
  take(): boolean {
    this.#refill()
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** Tokens left right now (for tests and logs). */
  get available(): number {
    this.#refill()
    return Math.floor(this.#tokens)
  }

  #refill(): void {
    const now = this.#now()
    // A clock that goes backwards (NTP step) must not drain the bucket.
    const elapsedMs = Math.max(0, now - this.#updatedAt)
    this.#updatedAt = now
    this.#tokens = Math.min(
      this.#options.burst,
      this.#tokens + (elapsedMs * this.#options.perSecond) / 1000,
    )
  }
}

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

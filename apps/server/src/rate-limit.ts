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

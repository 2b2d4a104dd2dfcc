import { z } from 'zod'

/**
 * Rate budgets, as the coordinator enforces them and a member paces itself by them: a burst,
 * then a steady rate (the budget of one socket is told in the welcome).
 */
export const RateLimitOptionsSchema = z.object({
  burst: z.number().min(1),
  perSecond: z.number().min(0),
})

/** How many messages a socket may send: a burst, then a steady rate. */
export interface RateLimitOptions {
  /** Messages allowed at once; a device joining a full room trickles many ICE candidates. */
  readonly burst: number
  /** Messages per second added back to the bucket. */
  readonly perSecond: number
}

/**
 * A token bucket: the coordinator keeps one per socket, and a member paces what it sends with
 * one of the same budget, so nothing it sends is dropped. The clock is injected so tests never
 * sleep.
 */
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

  /** Ms until a token is there to take (0: one is there now). */
  msUntilToken(): number {
    this.#refill()
    if (this.#tokens >= 1) return 0
    const { perSecond } = this.#options
    return perSecond > 0
      ? Math.ceil(((1 - this.#tokens) * 1000) / perSecond)
      : Number.POSITIVE_INFINITY
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

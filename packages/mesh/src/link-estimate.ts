/**
 * What a link costs, from the requests it carried: network time ≈ round trip + bytes / bandwidth.
 * Each reply gives one point (bytes both ways, the round trip minus the responder's serving
 * time). Small messages (requests, tiny probes) give the round trip; large ones (a probe of
 * LARGE_MESSAGE_BYTES) give the slope.
 *
 * Each figure is the minimum over the recent points, not their mean: what a message waits for
 * behind others (a busy main thread, requests in flight) is load, which the planner models on
 * its own; the link's own cost is what the least delayed message paid (as TCP's BBR takes its
 * minimum round trip). A link that carried only small messages has no bandwidth yet.
 */

/** Messages up to this size (both ways) measure the round trip. */
export const SMALL_MESSAGE_BYTES = 16 * 1024
/** Messages of at least this size (both ways) measure the bandwidth. */
export const LARGE_MESSAGE_BYTES = 64 * 1024
/**
 * The fastest bandwidth reported, bytes per ms (1 GB/s): when a large message takes no longer
 * than a small one (loopback, or noise), the link is faster than these two can resolve.
 */
export const MAX_BYTES_PER_MS = 1_000_000
/** Points older than this no longer count (the link may have changed), unless none is newer. */
export const LINK_WINDOW_MS = 30_000
/** Points kept per kind of message. */
const KEPT = 32

interface Point {
  readonly at: number
  readonly bytes: number
  readonly ms: number
}

export class LinkEstimate {
  private readonly small: Point[] = []
  private readonly large: Point[] = []

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** One reply: `bytes` sent and received, `networkMs` of wall time that was not serving. */
  observe(bytes: number, networkMs: number): void {
    const point = { at: this.now(), bytes: Math.max(0, bytes), ms: Math.max(0, networkMs) }
    const kind =
      point.bytes <= SMALL_MESSAGE_BYTES
        ? this.small
        : point.bytes >= LARGE_MESSAGE_BYTES
          ? this.large
          : null
    if (!kind) return
    kind.push(point)
    if (kind.length > KEPT) kind.shift()
  }

  /** Bytes per ms, once the link carried both a small and a large message. */
  get bytesPerMs(): number | null {
    const small = this.least(this.small)
    const large = this.least(this.large)
    if (!small || !large) return null
    const extraMs = large.ms - small.ms
    const extraBytes = large.bytes - small.bytes
    if (extraMs <= extraBytes / MAX_BYTES_PER_MS) return MAX_BYTES_PER_MS
    return extraBytes / extraMs
  }

  /**
   * The round trip of a small message (its few bytes included). Not extrapolated to an empty
   * message: the fit's intercept is too noisy to subtract from, and a request's own bytes at the
   * bandwidth add well under a millisecond on any LAN.
   */
  get rttMs(): number | null {
    return this.least(this.small)?.ms ?? null
  }

  /** The least delayed recent point; the newest when none is recent. */
  private least(points: readonly Point[]): Point | null {
    const since = this.now() - LINK_WINDOW_MS
    let best: Point | null = null
    for (const point of points) {
      if (point.at >= since && (!best || point.ms < best.ms)) best = point
    }
    return best ?? points.at(-1) ?? null
  }
}

import type { CohortError } from '@cohort/protocol'
import { ReportThrottle, type ThrottledReport } from './report-throttle.ts'

/** How a session treats bad frames (undecodable chunks or messages, expired transfers). */
export interface BadFrameLimits {
  /** A peer that sends more bad frames than this within `windowMs` is cut off. */
  readonly maxPerWindow: number
  readonly windowMs: number
  /** Bad frames are reported (a log line, an event) at most once per this many ms per peer. */
  readonly reportIntervalMs: number
}

/**
 * A well-behaved peer sends no bad frames at all (both ends speak the version checked at join),
 * so any is a bug or an attack. A bad frame costs a decode and a counter, so 1,000 a second are
 * harmless, and a peer past that is flooding: it is cut off rather than served at the expense of
 * every other link on this page. One report per 10 s keeps a flood out of the console.
 */
export const DEFAULT_BAD_FRAME_LIMITS: BadFrameLimits = {
  maxPerWindow: 1_000,
  windowMs: 1_000,
  reportIntervalMs: 10_000,
}

/** Counts one peer's bad frames, reports them at a bounded rate and says when to cut it off. */
export class BadFrameMonitor {
  private seen = 0
  private windowStartedAt = Number.NEGATIVE_INFINITY
  private inWindow = 0
  private readonly throttle: ReportThrottle<CohortError>

  constructor(
    private readonly limits: BadFrameLimits,
    report: (report: ThrottledReport<CohortError>) => void,
  ) {
    this.throttle = new ReportThrottle(limits.reportIntervalMs, report)
  }

  /** Counts one bad frame; true when the peer has now sent more than the limit allows. */
  record(error: CohortError, now: number): boolean {
    this.seen++
    if (now - this.windowStartedAt >= this.limits.windowMs) {
      this.windowStartedAt = now
      this.inWindow = 0
    }
    this.inWindow++
    this.throttle.add(error, now)
    return this.inWindow > this.limits.maxPerWindow
  }

  /** Bad frames counted since the session started. */
  get total(): number {
    return this.seen
  }

  /** Reports folded bad frames once the report interval has passed (called every tick). */
  flush(now: number): void {
    this.throttle.flush(now)
  }

  /** Reports whatever is folded (the session is ending). */
  drain(now: number): void {
    this.throttle.drain(now)
  }
}

/** What a throttled report passes on: the latest item and how many items it stands for. */
export interface ThrottledReport<T> {
  readonly latest: T
  /** Items since the previous report, this one included. */
  readonly count: number
  /** Time since the previous report, in ms (0 for the first). */
  readonly periodMs: number
}

/**
 * Passes on the first of a run of items at once, then folds the rest into at most one report per
 * `intervalMs`: a flood costs a counter increment per item, not a log line or an event. Time is
 * given by the caller, so it can be tested with a fake clock and needs no timer of its own
 * (the owner's periodic tick calls `flush`).
 */
export class ReportThrottle<T> {
  private pending = 0
  private latest: T | undefined
  private lastReportAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly intervalMs: number,
    private readonly emit: (report: ThrottledReport<T>) => void,
  ) {}

  /** Counts one item; passes it on now if no report went out within the interval. */
  add(item: T, now: number): void {
    this.pending++
    this.latest = item
    if (now - this.lastReportAt >= this.intervalMs) this.report(now)
  }

  /** Passes on the folded items once the interval since the last report has passed. */
  flush(now: number): void {
    if (this.pending > 0 && now - this.lastReportAt >= this.intervalMs) this.report(now)
  }

  /** Passes on whatever is folded, interval or not (the owner is closing). */
  drain(now: number): void {
    if (this.pending > 0) this.report(now)
  }

  private report(now: number): void {
    const latest = this.latest as T
    const periodMs = Number.isFinite(this.lastReportAt) ? now - this.lastReportAt : 0
    const count = this.pending
    this.pending = 0
    this.latest = undefined
    this.lastReportAt = now
    this.emit({ latest, count, periodMs })
  }
}

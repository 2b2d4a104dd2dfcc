/**
 * How long a peer has been silent, counted only over time this page was running. A heartbeat tick
 * that comes much later than its interval means this page itself stalled (a long task, a busy or
 * throttled tab): the peer's messages may be waiting in the queue behind the timer, so the stall is
 * not held against the peer. A peer that really is gone is still declared silent after
 * `deadAfterMs` of running time.
 */
export class SilenceWatch {
  private lastHeardAt: number
  private lastTickAt: number

  /** `stallMs`: how late a tick must be to count as this page's stall (busy machines are a bit late). */
  constructor(
    private readonly intervalMs: number,
    private readonly stallMs: number,
    now: number,
  ) {
    this.lastHeardAt = now
    this.lastTickAt = now
  }

  /** Something arrived from the peer. */
  heard(now: number): void {
    this.lastHeardAt = now
  }

  /** Called every interval: the peer's silence so far, in ms of this page's running time. */
  tick(now: number): number {
    const lateMs = now - this.lastTickAt - this.intervalMs
    this.lastTickAt = now
    if (lateMs > this.stallMs) this.lastHeardAt = Math.min(now, this.lastHeardAt + lateMs)
    return now - this.lastHeardAt
  }
}

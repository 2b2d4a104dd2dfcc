import { type DeviceId, type DeviceOutcome, quantile } from '@cohort/protocol'

const HISTORY = 64

/**
 * What a requester learned about each device: requests, misses (no answer in time, or an
 * error), recent answer times, and how many of its requests are in flight now. Outcomes are
 * drained into reports for the coordinator's failure model; answer times give the hedging
 * delay; requests in flight let the requester spread its load over a group's members.
 */
export class OutcomeTracker {
  private readonly pending = new Map<DeviceId, { requests: number; misses: number }>()
  private readonly latencies = new Map<DeviceId, number[]>()
  private readonly served = new Map<DeviceId, number>()
  private readonly outstanding = new Map<DeviceId, number>()

  /** A request to `deviceId` went out; `settled` says when it ended, however it ended. */
  sent(deviceId: DeviceId): void {
    this.outstanding.set(deviceId, this.inFlight(deviceId) + 1)
  }

  /** A request to `deviceId` ended (answered, failed or cancelled). */
  settled(deviceId: DeviceId): void {
    const left = this.inFlight(deviceId) - 1
    if (left > 0) this.outstanding.set(deviceId, left)
    else this.outstanding.delete(deviceId)
  }

  /** This requester's requests to `deviceId` that have not ended yet. */
  inFlight(deviceId: DeviceId): number {
    return this.outstanding.get(deviceId) ?? 0
  }

  /**
   * `members` with the fewest requests in flight first, in their given order among equals: an
   * idle requester asks a group's best members, a loaded one spreads its requests over the
   * whole group instead of queueing them all on the best (least outstanding requests).
   */
  leastLoadedFirst(members: readonly DeviceId[]): DeviceId[] {
    return members
      .map((deviceId, rank) => ({ deviceId, rank, load: this.inFlight(deviceId) }))
      .sort((a, b) => a.load - b.load || a.rank - b.rank)
      .map(({ deviceId }) => deviceId)
  }

  /** A request to `deviceId` was answered in `ms`. */
  answered(deviceId: DeviceId, ms: number): void {
    this.count(deviceId, false)
    const history = this.latencies.get(deviceId) ?? []
    history.push(ms)
    if (history.length > HISTORY) history.shift()
    this.latencies.set(deviceId, history)
  }

  /** A request to `deviceId` was not answered (crash, timeout, error). */
  missed(deviceId: DeviceId): void {
    this.count(deviceId, true)
  }

  /** The answer that was used came from `deviceId`. */
  won(deviceId: DeviceId): void {
    this.served.set(deviceId, (this.served.get(deviceId) ?? 0) + 1)
  }

  /** How many used answers each device gave. */
  servedCounts(): ReadonlyMap<DeviceId, number> {
    return this.served
  }

  /** The 95th percentile of `deviceId`'s recent answer times, or null without history. */
  p95(deviceId: DeviceId): number | null {
    const history = this.latencies.get(deviceId)
    if (!history || history.length < 5) return null
    return quantile(history, 0.95)
  }

  /** Outcomes since the last drain; the tracker starts counting afresh. */
  drain(): DeviceOutcome[] {
    const outcomes = [...this.pending].map(([deviceId, record]) => ({ deviceId, ...record }))
    this.pending.clear()
    return outcomes
  }

  private count(deviceId: DeviceId, missed: boolean): void {
    const record = this.pending.get(deviceId) ?? { requests: 0, misses: 0 }
    record.requests++
    if (missed) record.misses++
    this.pending.set(deviceId, record)
  }
}

import { type DeviceId, type DeviceOutcome, quantile } from '@cohort/protocol'

const HISTORY = 64

/**
 * What a requester learned about each device: requests, misses (no answer in time, or an
 * error) and recent answer times. Outcomes are drained into reports for the coordinator's
 * failure model; answer times give the hedging delay.
 */
export class OutcomeTracker {
  private readonly pending = new Map<DeviceId, { requests: number; misses: number }>()
  private readonly latencies = new Map<DeviceId, number[]>()
  private readonly served = new Map<DeviceId, number>()

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

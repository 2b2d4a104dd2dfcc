import { CohortError } from '@cohort/protocol'
import { describe, expect, it } from 'vitest'
import { BadFrameMonitor } from './bad-frames.ts'
import { ReportThrottle, type ThrottledReport } from './report-throttle.ts'

describe('ReportThrottle', () => {
  const throttled = (intervalMs: number) => {
    const reports: ThrottledReport<number>[] = []
    return {
      reports,
      throttle: new ReportThrottle<number>(intervalMs, (r) => void reports.push(r)),
    }
  }

  it('passes the first item at once and folds a flood into one report per interval', () => {
    const { reports, throttle } = throttled(1_000)
    for (let item = 0; item <= 10_000; item++) throttle.add(item, item / 10)
    // 10,001 items over 1 s of the fake clock: the first at once, one when the interval is up.
    expect(reports).toEqual([
      { latest: 0, count: 1, periodMs: 0 },
      { latest: 10_000, count: 10_000, periodMs: 1_000 },
    ])
  })

  it('flushes folded items only once the interval has passed', () => {
    const { reports, throttle } = throttled(1_000)
    throttle.add(1, 0)
    throttle.add(2, 10)
    throttle.add(3, 20)
    throttle.flush(999)
    expect(reports).toHaveLength(1)
    throttle.flush(1_000)
    expect(reports[1]).toEqual({ latest: 3, count: 2, periodMs: 1_000 })
    // Nothing pending: no empty reports.
    throttle.flush(5_000)
    expect(reports).toHaveLength(2)
    // After a quiet interval the next item goes at once again.
    throttle.add(4, 5_000)
    expect(reports[2]).toEqual({ latest: 4, count: 1, periodMs: 4_000 })
  })

  it('drains what is folded whatever the interval', () => {
    const { reports, throttle } = throttled(1_000)
    throttle.add(1, 0)
    throttle.add(2, 1)
    throttle.drain(2)
    expect(reports.map((report) => report.count)).toEqual([1, 1])
    throttle.drain(3)
    expect(reports).toHaveLength(2)
  })
})

describe('BadFrameMonitor', () => {
  const limits = { maxPerWindow: 5, windowMs: 1_000, reportIntervalMs: 10_000 }
  const bad = new CohortError('bad-frame', 'junk')

  it('counts every bad frame and says when a window holds more than the limit', () => {
    const reports: number[] = []
    const monitor = new BadFrameMonitor(limits, (report) => void reports.push(report.count))
    const verdicts = Array.from({ length: 6 }, (_, index) => monitor.record(bad, index))
    expect(verdicts).toEqual([false, false, false, false, false, true])
    expect(monitor.total).toBe(6)
    expect(reports).toEqual([1])
    monitor.drain(10)
    expect(reports).toEqual([1, 5])
  })

  it('lets a steady trickle under the limit go on for ever', () => {
    const monitor = new BadFrameMonitor(limits, () => {})
    for (let now = 0; now < 100_000; now += 250) expect(monitor.record(bad, now)).toBe(false)
    expect(monitor.total).toBe(400)
  })
})

import { describe, expect, it } from 'vitest'
import { exitHistogram, liveSeries, type RunPoint, summarize } from './series.ts'

const point = (
  atMs: number,
  latencyMs: number | null,
  extra: Partial<RunPoint> = {},
): RunPoint => ({
  atMs,
  latencyMs,
  correct: latencyMs !== null,
  degraded: false,
  exitIndex: null,
  cost: null,
  ...extra,
})

describe('liveSeries', () => {
  it('has one value per finished request, aligned on seconds', () => {
    const series = liveSeries([point(500, 10), point(1_000, 20), point(1_500, null)])
    expect(series.seconds).toEqual([0.5, 1, 1.5])
    for (const values of Object.values(series)) expect(values).toHaveLength(3)
  })

  it('takes latency quantiles over the trailing window of answered requests only', () => {
    const points = [point(1, 100), point(2, 1), point(3, 2), point(4, null), point(5, 3)]
    const series = liveSeries(points, {
      latencyWindow: 3,
      throughputWindowMs: 1_000,
      cloudOnlyCost: null,
    })
    // The 100 ms request has left the window of 3 by the last point; the error never entered it.
    expect(series.p50Ms).toEqual([100, 100, 2, 2, 2])
    expect(series.p95Ms).toEqual([100, 100, 100, 100, 3])
  })

  it('counts throughput over the trailing time window, shorter at the start of a run', () => {
    const points = [250, 500, 750, 1_000, 1_250, 1_500].map((at) => point(at, 1))
    const series = liveSeries(points, {
      latencyWindow: 10,
      throughputWindowMs: 1_000,
      cloudOnlyCost: null,
    })
    // 4 requests per second all along: 1 in 250 ms, 2 in 500 ms, then 4 in every 1 s window.
    expect(series.throughput).toEqual([4, 4, 4, 4, 4, 4])
    expect(liveSeries([point(0, 1)]).throughput).toEqual([null])
    // The first answers of a run give no rate until a quarter of the window has passed.
    expect(liveSeries([point(2, 1), point(499, 1), point(500, 1)]).throughput).toEqual([
      null,
      null,
      6,
    ])
  })

  it('keeps a running accuracy in which errors count as wrong', () => {
    const series = liveSeries([
      point(1, 1),
      point(2, 1, { correct: false }),
      point(3, null),
      point(4, 1),
    ])
    expect(series.accuracy).toEqual([100, 50, 100 / 3, 50])
  })

  it('reports the running cost reduction against cloud-only when there are costs', () => {
    const points = [point(1, 1, { cost: 1 }), point(2, 1, { cost: 3 }), point(3, null)]
    expect(liveSeries(points).costReduction).toEqual([null, null, null])
    const series = liveSeries(points, {
      latencyWindow: 10,
      throughputWindowMs: 1_000,
      cloudOnlyCost: 4,
    })
    expect(series.costReduction).toEqual([75, 50, 50])
  })
})

describe('exitHistogram', () => {
  it('counts answers per exit and ignores errors and other modes', () => {
    const points = [
      point(1, 1, { exitIndex: 0 }),
      point(2, 1, { exitIndex: 2 }),
      point(3, 1, { exitIndex: 0 }),
      point(4, null),
      point(5, 1),
    ]
    expect(exitHistogram(points, 3)).toEqual([2, 0, 1])
    expect(exitHistogram([], 2)).toEqual([0, 0])
  })
})

describe('summarize', () => {
  it('counts errors and degraded answers and takes quantiles of answered requests', () => {
    const summary = summarize([
      point(1, 4),
      point(2, null),
      point(3, 2, { degraded: true }),
      point(4, 3, { correct: false }),
    ])
    expect(summary).toEqual({
      done: 4,
      errors: 1,
      degraded: 1,
      accuracy: 50,
      p50Ms: 3,
      p95Ms: 4,
      // 4 requests finished within the first 4 ms of the run.
      requestsPerSecond: 1_000,
    })
    expect(summarize([])).toMatchObject({
      done: 0,
      accuracy: null,
      p50Ms: null,
      requestsPerSecond: null,
    })
  })
})

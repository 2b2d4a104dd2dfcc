import { describe, expect, it } from 'vitest'
import type { EarlyExitSampleOutcome } from '../early-exit-session.ts'
import type { SampleOutcome, SingleOutcome } from '../host-session.ts'
import { RunFeed, toRunPoint } from './run-feed.ts'

const ensemble = (index: number, extra: Partial<SampleOutcome> = {}): SampleOutcome => ({
  index,
  label: 3,
  prediction: 3,
  degraded: false,
  missingSlices: [],
  latencyMs: 4,
  k: 2,
  planVersion: 1,
  winners: [],
  error: null,
  ...extra,
})
const single = (index: number): SingleOutcome => ({
  index,
  label: 1,
  prediction: 2,
  latencyMs: 7,
  computeMs: 3,
  error: null,
})
const earlyExit = (extra: Partial<EarlyExitSampleOutcome> = {}): EarlyExitSampleOutcome => ({
  index: 0,
  label: 5,
  prediction: 5,
  exitIndex: 1,
  confidence: 0.9,
  reason: null,
  degraded: false,
  deadlineExit: false,
  answeredBy: 'self',
  segments: [],
  bytes: 10,
  offloads: 1,
  failovers: 0,
  cost: 0.4,
  latencyMs: 9,
  mobileMs: 1,
  planVersion: 1,
  error: null,
  ...extra,
})

describe('toRunPoint', () => {
  it('maps every mode onto the same point', () => {
    expect(toRunPoint({ mode: 'ensemble', outcome: ensemble(0, { degraded: true }) }, 5)).toEqual({
      atMs: 5,
      latencyMs: 4,
      correct: true,
      degraded: true,
      exitIndex: null,
      cost: null,
    })
    expect(toRunPoint({ mode: 'single', outcome: single(0) }, 1)).toMatchObject({
      correct: false,
      latencyMs: 7,
    })
    expect(toRunPoint({ mode: 'early-exit', outcome: earlyExit() }, 2)).toMatchObject({
      exitIndex: 1,
      cost: 0.4,
      correct: true,
    })
  })

  it('gives an error no latency, no cost and no correctness', () => {
    const failed = earlyExit({ prediction: null, exitIndex: null, error: 'timeout: late' })
    expect(toRunPoint({ mode: 'early-exit', outcome: failed }, 3)).toMatchObject({
      latencyMs: null,
      cost: null,
      correct: false,
      exitIndex: null,
    })
  })
})

describe('RunFeed', () => {
  it('follows the run started last and times points from its start', () => {
    let now = 100
    const feed = new RunFeed(() => now)
    feed.started('ensemble', 2)
    now = 150
    feed.finished({ mode: 'ensemble', outcome: ensemble(0) })
    expect(feed.points().map((point) => point.atMs)).toEqual([50])
    now = 200
    feed.started('single', 5)
    expect(feed.points()).toEqual([])
    // A late answer of the previous run does not mix into the new one.
    feed.finished({ mode: 'ensemble', outcome: ensemble(1) })
    now = 230
    feed.finished({ mode: 'single', outcome: single(0) })
    expect(feed.mode).toBe('single')
    expect(feed.total).toBe(5)
    expect(feed.points().map((point) => point.atMs)).toEqual([30])
  })
})

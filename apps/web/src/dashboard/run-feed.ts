import type { EarlyExitFinishedRequest } from '../early-exit-session.ts'
import type { HostFinishedRequest } from '../host-session.ts'
import type { RunMode, RunPoint } from './series.ts'

/** A request of a run that just finished, in its mode's own terms. */
export type FinishedRequest = HostFinishedRequest | EarlyExitFinishedRequest

/** What the sessions tell about their runs as they stream. */
export interface RunListener {
  started(mode: RunMode, total: number): void
  finished(request: FinishedRequest): void
}

/** The chart point of a finished request, `atMs` after its run started. */
export function toRunPoint(request: FinishedRequest, atMs: number): RunPoint {
  const { outcome } = request
  const answered = outcome.prediction !== null
  const common = {
    atMs,
    latencyMs: answered ? outcome.latencyMs : null,
    correct: answered && outcome.prediction === outcome.label,
  }
  switch (request.mode) {
    case 'ensemble':
      return { ...common, degraded: request.outcome.degraded, exitIndex: null, cost: null }
    case 'single':
      return { ...common, degraded: false, exitIndex: null, cost: null }
    case 'early-exit':
      return {
        ...common,
        degraded: request.outcome.degraded,
        exitIndex: request.outcome.exitIndex,
        cost: answered ? request.outcome.cost : null,
      }
  }
}

/**
 * The run the charts follow: the one started last, whichever mode and whoever started it (the
 * dashboard's Run button or `window.cohort.host` in a test or the console).
 */
export class RunFeed implements RunListener {
  mode: RunMode | null = null
  total = 0
  private startedAt = 0
  private readonly list: RunPoint[] = []

  constructor(private readonly now: () => number = () => performance.now()) {}

  started(mode: RunMode, total: number): void {
    this.mode = mode
    this.total = total
    this.startedAt = this.now()
    this.list.length = 0
  }

  finished(request: FinishedRequest): void {
    // A run of another mode still finishing in the background does not mix into the charts.
    if (request.mode !== this.mode) return
    this.list.push(toRunPoint(request, this.now() - this.startedAt))
  }

  /** The followed run's finished requests, in order. */
  points(): readonly RunPoint[] {
    return this.list
  }
}

/** What the e2e tests use of a page's `window.cohort` (see apps/web/src/page-handle.ts). */
export interface EchoOutcome {
  readonly peer: string
  readonly identical: boolean
  readonly roundTripMs: number | null
  readonly error: string | null
}

/** One test sample through the room's ensemble, as the dashboard's run reports it. */
export interface SampleOutcome {
  readonly index: number
  readonly label: number
  readonly prediction: number | null
  readonly degraded: boolean
  readonly missingSlices: number[]
  /** The K of the plan that answered. */
  readonly k: number | null
  /** The version of the plan the request went out under. */
  readonly planVersion: number | null
  /** Which device answered each slice. */
  readonly winners: readonly { readonly slice: number; readonly deviceId: string }[]
  readonly latencyMs: number
  readonly error: string | null
}

/** One test sample through the room's early-exit tiers, as the dashboard's run reports it. */
export interface EarlyExitOutcome {
  readonly index: number
  readonly prediction: number | null
  /** The exit it left at (0: the requester's own), null without an answer. */
  readonly exitIndex: number | null
  readonly degraded: boolean
  /** The deadline came first: answered at the deepest exit reached. */
  readonly deadlineExit: boolean
  readonly answeredBy: string | null
  readonly latencyMs: number
  readonly error: string | null
}

/** The page handle, typed for page.evaluate. */
export interface PageApi {
  echoAll(floatCount: number): Promise<EchoOutcome[]>
  /** The dashboard only. */
  host: {
    run(options: {
      samples: number
      redundancy: 'all' | 'hedged'
      deadlineMs: number
    }): Promise<SampleOutcome[]>
    runEarlyExit(options: {
      samples: number
      deadlineMs: number
      thresholds?: number[]
    }): Promise<EarlyExitOutcome[]>
  }
}

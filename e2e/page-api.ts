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
  }
}

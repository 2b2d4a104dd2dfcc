/** What the e2e tests use of a page's `window.cohort` (see apps/web/src/page-handle.ts). */
export interface EchoOutcome {
  readonly peer: string
  readonly identical: boolean
  readonly roundTripMs: number | null
  readonly error: string | null
}

/** The page handle, typed for page.evaluate. */
export interface PageApi {
  echoAll(floatCount: number): Promise<EchoOutcome[]>
}

import type { Mesh } from '@cohort/mesh'
import type { RuntimePageHandle } from './device-runtime.ts'
import type { EchoOutcome } from './diagnostics.ts'

/** What a page exposes on `window.cohort`, for engineers in the console and for e2e tests. */
export interface CohortPageHandle {
  readonly mesh: Mesh
  /** Echoes a random float32 tensor of `floatCount` elements off every open peer. */
  echoAll(floatCount: number): Promise<EchoOutcome[]>
  /** The device page's inference runtime, once it has started (device pages only). */
  readonly runtime?: RuntimePageHandle
}

declare global {
  interface Window {
    cohort?: CohortPageHandle
  }
}

import type { Mesh } from '@cohort/mesh'
import type { ChartName } from './dashboard/charts.ts'
import type { DigitAnswer } from './dashboard/digit-classifier.ts'
import type { RuntimePageHandle } from './device-runtime.ts'
import type { EchoOutcome } from './diagnostics.ts'
import type {
  EarlyExitPrediction,
  EarlyExitRunOptions,
  EarlyExitRunStats,
  EarlyExitSampleOutcome,
  EarlyExitSession,
} from './early-exit-session.ts'
import type { HostSession, RunOptions, RunStats, SampleOutcome } from './host-session.ts'

/** What a page exposes on `window.cohort`, for engineers in the console and for e2e tests. */
export interface CohortPageHandle {
  readonly mesh: Mesh
  /** Echoes a random float32 tensor of `floatCount` elements off every open peer. */
  echoAll(floatCount: number): Promise<EchoOutcome[]>
  /** The device page's inference runtime, once it has started (device pages only). */
  readonly runtime?: RuntimePageHandle
  /** The dashboard's inference runs (host pages only). */
  readonly host?: HostPageHandle
}

/** What the dashboard exposes for running the task's samples through the room. */
export interface HostPageHandle {
  run(options: RunOptions): Promise<SampleOutcome[]>
  /** The single-device baseline: one whole model on one device. */
  runSingle: HostSession['runSingle']
  stats(): RunStats
  /** Runs the task's samples as early-exit requests (the dashboard is the mobile tier). */
  runEarlyExit(options: EarlyExitRunOptions): Promise<EarlyExitSampleOutcome[]>
  earlyExitStats(): EarlyExitRunStats
  /** The cloud-only baseline: every sample whole to one device, which runs every segment. */
  runCloudOnly: EarlyExitSession['runCloudOnly']
  /** Predicted accuracy, exit shares and cost of some thresholds (measures the sample once). */
  predictEarlyExit(thresholds: readonly number[]): Promise<EarlyExitPrediction | null>
  /** Each live chart's data as its chart instance holds it (x values first); null before the charts exist. */
  chartData(): Record<ChartName, (number | null)[][]> | null
  /**
   * Sends a drawing through the room as one ensemble request (digits task): 784 grayscale pixels
   * (28×28, 0–255), or what is drawn on the dashboard's canvas; shows and returns the answer.
   */
  classifyDrawing(pixels?: readonly number[]): Promise<DigitAnswer>
  /** The answer the dashboard shows for the latest drawing. */
  lastDrawing(): DigitAnswer | null
}

declare global {
  interface Window {
    cohort?: CohortPageHandle
  }
}

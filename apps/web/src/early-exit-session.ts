import {
  type CostModel,
  costModelFromManifest,
  type EarlyExitSummary,
  type ExitProfile,
  inferCloudOnly,
  measureExitProfile,
  type Outcome,
  predictThresholds,
  type Requester,
  summarizeEarlyExit,
  type ThresholdPrediction,
} from '@cohort/cohort'
import type { Mesh } from '@cohort/mesh'
import {
  type DeviceId,
  type ExitReason,
  type Manifest,
  quantileOfSorted,
  type SampleSet,
  sampleInput,
} from '@cohort/protocol'
import type { RuntimePageHandle } from './device-runtime.ts'
import { describe, streamSamples } from './sample-stream.ts'
import { loadTaskSamples } from './task-samples.ts'

/** Options of an early-exit run of the task's test samples. */
export interface EarlyExitRunOptions {
  readonly samples: number
  readonly deadlineMs: number
  /** alpha per exit but the last; the plan's calibrated ones when absent. */
  readonly thresholds?: readonly number[]
  /** First sample index (default 0). */
  readonly start?: number
  /** Requests in flight at once (1 when absent). */
  readonly window?: number
}

/** One sample's early-exit outcome (plain data, so tests can read it through page.evaluate). */
/** A request of an early-exit run that just finished. */
export interface EarlyExitFinishedRequest {
  readonly mode: 'early-exit'
  readonly outcome: EarlyExitSampleOutcome
}

/** What the early-exit session tells about its runs as they stream. */
export interface EarlyExitRunListener {
  started(mode: 'early-exit', total: number): void
  finished(request: EarlyExitFinishedRequest): void
}

export interface EarlyExitSampleOutcome {
  readonly index: number
  readonly label: number
  /** Null when the request ended in an error. */
  readonly prediction: number | null
  readonly exitIndex: number | null
  readonly confidence: number | null
  readonly reason: ExitReason | null
  readonly degraded: boolean
  readonly deadlineExit: boolean
  /** The device whose exit answered; 'self' for the requester. */
  readonly answeredBy: string | null
  /** Per segment that ran: where, compute ms, and the round trip of the hop that fed it. */
  readonly segments: readonly {
    readonly segment: number
    readonly deviceId: string | null
    readonly computeMs: number
    readonly hopMs: number | null
  }[]
  readonly bytes: number
  readonly offloads: number
  readonly failovers: number
  readonly cost: number
  readonly latencyMs: number
  /** Wall ms until segment 1's exit was known on the requester. */
  readonly mobileMs: number | null
  readonly planVersion: number | null
  readonly error: string | null
}

/** One sample's cloud-only outcome (the baseline: the whole backbone on one device). */
export interface CloudOnlySampleOutcome {
  readonly index: number
  readonly label: number
  readonly prediction: number | null
  readonly latencyMs: number
  readonly bytes: number
  readonly cost: number
  readonly error: string | null
}

/** Live figures of an early-exit run. */
export interface EarlyExitRunStats {
  readonly running: boolean
  readonly total: number
  readonly done: number
  readonly errors: number
  readonly thresholds: readonly number[]
  readonly summary: EarlyExitSummary
  readonly cloudOnlyCost: number
  readonly p50Ms: number | null
  readonly p95Ms: number | null
  readonly maxMs: number | null
}

/** What the dashboard predicts for some thresholds, and from what. */
export interface EarlyExitPrediction extends ThresholdPrediction {
  /** 'manifest': the calibrated figures (sample split); 'measured': per-exit confidences measured here. */
  readonly source: 'manifest' | 'measured'
}

/**
 * The host's early-exit side: runs the task's shipped test samples as DistrEE/DIMEE requests (the
 * host is the mobile tier and runs segment 1 on its own runtime), keeps outcomes and the cost
 * tally, and predicts accuracy and cost for threshold overrides. The manifest's calibrated figures
 * are for its own thresholds only, so for others the per-exit confidences of the shipped sample
 * are measured once on this page and the prediction is computed from them.
 */
export class EarlyExitSession {
  readonly outcomes: EarlyExitSampleOutcome[] = []
  private total = 0
  private running = false
  /** Cloud-only baseline runs going. */
  private baselines = 0
  private thresholds: readonly number[] = []
  private profile: Promise<ExitProfile> | null = null
  private measured: ExitProfile | null = null

  constructor(
    private readonly mesh: Mesh,
    private readonly runtime: RuntimePageHandle,
    /** The page's one Requester (the host session's). */
    private readonly requester: () => Promise<Requester>,
    private readonly changed: () => void,
    private readonly listener: EarlyExitRunListener,
  ) {}

  /** The manifest's calibrated thresholds (empty before the manifest is fetched). */
  calibrated(): readonly number[] {
    return this.runtime.manifest()?.earlyExit.thresholds ?? []
  }

  /** Whether a run is going. */
  get isRunning(): boolean {
    return this.running || this.baselines > 0
  }

  /** Runs `samples` test samples through the room, one at a time; resolves with the outcomes. */
  async run(options: EarlyExitRunOptions): Promise<EarlyExitSampleOutcome[]> {
    if (this.running) throw new Error('an early-exit run is already going')
    this.running = true
    this.outcomes.length = 0
    this.changed()
    try {
      const requester = await this.requester()
      const manifest = requester.manifest
      const set = await this.loadSamples()
      const start = options.start ?? 0
      this.total = Math.max(0, Math.min(options.samples, set.count - start))
      this.thresholds = options.thresholds ?? manifest.earlyExit.thresholds
      this.listener.started('early-exit', this.total)
      await streamSamples(
        requester,
        set,
        {
          mode: 'early-exit',
          start,
          samples: this.total,
          deadlineMs: options.deadlineMs,
          window: options.window ?? 1,
          ...(options.thresholds ? { thresholds: options.thresholds } : {}),
        },
        toOutcome,
        (outcome) => {
          this.outcomes.push(outcome)
          this.listener.finished({ mode: 'early-exit', outcome })
          this.changed()
        },
      )
      return [...this.outcomes]
    } finally {
      this.running = false
      this.changed()
    }
  }

  /**
   * The cloud-only baseline: `samples` test samples, each sent whole to `deviceId`, which runs
   * every segment itself. Not shown on the dashboard; for benchmarks.
   */
  async runCloudOnly(options: {
    readonly samples: number
    readonly deviceId: DeviceId
    readonly deadlineMs: number
  }): Promise<CloudOnlySampleOutcome[]> {
    await this.runtime.whenReady()
    const manifest = this.manifest()
    const set = await this.loadSamples()
    const results: CloudOnlySampleOutcome[] = []
    // Counted as running, so the dashboard's idle round-trip probes stay out of the baseline.
    this.baselines++
    try {
      for (let index = 0; index < Math.min(options.samples, set.count); index++) {
        const input = sampleInput(set, index, 1, manifest.input.pixelScale)
        const startedAt = performance.now()
        const answer = await inferCloudOnly(
          (...args) => this.mesh.request(...args),
          manifest,
          options.deviceId,
          input,
          options.deadlineMs,
        )
        results.push({
          index,
          label: set.labels[index] ?? 0,
          prediction: answer.ok ? answer.value.prediction : null,
          latencyMs: answer.ok ? answer.value.latencyMs : performance.now() - startedAt,
          bytes: answer.ok ? answer.value.bytes : 0,
          cost: answer.ok ? answer.value.cost : 0,
          error: answer.ok ? null : `${answer.error.code}: ${answer.error.message}`,
        })
      }
      return results
    } finally {
      this.baselines--
    }
  }

  /** The run's live figures. */
  stats(): EarlyExitRunStats {
    const manifest = this.runtime.manifest()
    const cost = manifest ? costModelFromManifest(manifest) : EMPTY_COST
    const answered = this.outcomes.filter((outcome) => outcome.exitIndex !== null)
    const summary = summarizeEarlyExit(
      cost,
      answered.map((outcome) => ({
        exitIndex: outcome.exitIndex ?? 0,
        correct: outcome.prediction === outcome.label,
        cost: outcome.cost,
        bytes: outcome.bytes,
        offloads: outcome.offloads,
        failovers: outcome.failovers,
        degraded: outcome.degraded,
        deadlineExit: outcome.deadlineExit,
        macsPerSegment: cost.segmentMacs.map((macs, i) =>
          i <= (outcome.exitIndex ?? 0) ? macs : 0,
        ),
      })),
    )
    const latencies = answered.map((outcome) => outcome.latencyMs).sort((a, b) => a - b)
    const quantile = (q: number) => (latencies.length === 0 ? null : quantileOfSorted(latencies, q))
    return {
      running: this.running,
      total: this.total,
      done: this.outcomes.length,
      errors: this.outcomes.length - answered.length,
      thresholds: this.thresholds,
      summary,
      cloudOnlyCost: cost.cloudOnly,
      p50Ms: quantile(0.5),
      p95Ms: quantile(0.95),
      maxMs: latencies.at(-1) ?? null,
    }
  }

  /**
   * Predicted accuracy, exit shares and cost for `thresholds`: the manifest's calibrated figures
   * when they are its own thresholds, otherwise from the per-exit confidences measured on the
   * shipped sample (null until measured; `measureProfile` starts that).
   */
  predict(thresholds: readonly number[]): EarlyExitPrediction | null {
    const manifest = this.runtime.manifest()
    if (!manifest) return null
    const ee = manifest.earlyExit
    const own =
      thresholds.length === ee.thresholds.length &&
      thresholds.every((alpha, i) => alpha === ee.thresholds[i])
    if (own) {
      return {
        source: 'manifest',
        accuracy: ee.calibrated.accuracy.sample,
        exitFractions: ee.calibrated.exitFractions.sample,
        expectedCost: ee.calibrated.expectedCost.sample,
        costReduction: ee.calibrated.costReduction.sample,
      }
    }
    if (!this.measured) return null
    return {
      source: 'measured',
      ...predictThresholds(this.measured, thresholds, costModelFromManifest(manifest)),
    }
  }

  /** Measures every exit's confidence on the shipped sample (once; in the background). */
  measureProfile(): Promise<ExitProfile> {
    this.profile ??= (async () => {
      await this.runtime.whenReady()
      const manifest = this.manifest()
      const set = await this.loadSamples()
      const profile = await measureExitProfile(this.runtime.client, manifest, set, set.count)
      this.measured = profile
      this.changed()
      return profile
    })()
    return this.profile
  }

  /** Whether the per-exit confidences have been measured. */
  get profiled(): boolean {
    return this.measured !== null
  }

  private manifest(): Manifest {
    const manifest = this.runtime.manifest()
    if (!manifest) throw new Error('no manifest')
    return manifest
  }

  private loadSamples(): Promise<SampleSet> {
    return loadTaskSamples(this.manifest())
  }
}

const EMPTY_COST: CostModel = { lambdaPerMMac: 1, offload: 0, segmentMacs: [], cloudOnly: 1 }

function toOutcome(
  index: number,
  label: number,
  answer: Outcome,
  latencyMs: number,
): EarlyExitSampleOutcome {
  const value = answer.ok && answer.value.mode === 'early-exit' ? answer.value : null
  if (!value) {
    return {
      index,
      label,
      prediction: null,
      exitIndex: null,
      confidence: null,
      reason: null,
      degraded: false,
      deadlineExit: false,
      answeredBy: null,
      segments: [],
      bytes: 0,
      offloads: 0,
      failovers: 0,
      cost: 0,
      latencyMs,
      mobileMs: null,
      planVersion: null,
      error: answer.ok ? 'internal: not an early-exit answer' : describe(answer.error),
    }
  }
  return {
    index,
    label,
    prediction: value.prediction,
    exitIndex: value.exitIndex,
    confidence: value.confidence,
    reason: value.reason,
    degraded: value.degraded,
    deadlineExit: value.deadlineExit,
    answeredBy: value.answeredBy ?? 'self',
    segments: value.segments.map((segment) => ({ ...segment })),
    bytes: value.bytes,
    offloads: value.offloads,
    failovers: value.failovers,
    cost: value.cost,
    latencyMs,
    mobileMs: value.mobileMs,
    planVersion: value.planVersion,
    error: null,
  }
}

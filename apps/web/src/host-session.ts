import {
  type Outcome,
  OutcomeTracker,
  type Redundancy,
  Requester,
  type SliceWinner,
} from '@cohort/cohort'
import type { Mesh, PeerStatus } from '@cohort/mesh'
import {
  type DeviceId,
  type DeviceOutcome,
  quantileOfSorted,
  type SampleSet,
} from '@cohort/protocol'
import type { RuntimePageHandle } from './device-runtime.ts'
import { describe, streamSamples } from './sample-stream.ts'
import { loadTaskSamples } from './task-samples.ts'

/** How often the host reports what it learned of devices' failures to the coordinator. */
const REPORT_INTERVAL_MS = 2_000
/** A link's figures are reported again when they move by more than this share. */
const LINK_CHANGE = 0.2

/** Options of a run of the task's test samples through the room. */
export interface RunOptions {
  readonly samples: number
  readonly redundancy: Redundancy
  readonly deadlineMs: number
  /** Requests in flight at once (1 when absent: one after another). */
  readonly window?: number
}

/** One sample's outcome. */
export interface SampleOutcome {
  readonly index: number
  readonly label: number
  /** Null when the request ended in an error. */
  readonly prediction: number | null
  readonly degraded: boolean
  readonly missingSlices: readonly number[]
  readonly latencyMs: number
  readonly k: number | null
  readonly planVersion: number | null
  /** Which device answered each slice, with its round trip and compute time. */
  readonly winners: readonly SliceWinner[]
  readonly error: string | null
}

/** One sample run on a single device (the baseline). */
export interface SingleOutcome {
  readonly index: number
  readonly label: number
  readonly prediction: number | null
  readonly latencyMs: number
  readonly computeMs: number | null
  readonly error: string | null
}

/** Live figures of a run. */
export interface RunStats {
  readonly running: boolean
  readonly total: number
  readonly done: number
  readonly correct: number
  readonly degraded: number
  readonly errors: number
  readonly accuracy: number | null
  readonly p50Ms: number | null
  readonly p95Ms: number | null
  /** Finished requests per second since the run started (null before the first). */
  readonly requestsPerSecond: number | null
}

/** A request of a host run that just finished, in its mode's own terms. */
export type HostFinishedRequest =
  | { readonly mode: 'ensemble'; readonly outcome: SampleOutcome }
  | { readonly mode: 'single'; readonly outcome: SingleOutcome }

/** What the host session tells the page: its runs as they stream, and the rest. */
export interface HostSessionEvents {
  started(mode: HostFinishedRequest['mode'], total: number): void
  finished(request: HostFinishedRequest): void
  /** Something the view shows changed. */
  changed(): void
  /** Per device, requests and misses just reported to the coordinator. */
  reported(outcomes: readonly DeviceOutcome[]): void
}

/**
 * The host's side of inference: runs the task's shipped test samples through the room as RoCoIn
 * ensemble requests (or single-device requests, the baseline) through the page's one Requester,
 * a window of them in flight, and keeps the outcomes; reports device failures to the coordinator
 * so the planner's failure model learns.
 */
export class HostSession {
  readonly tracker = new OutcomeTracker()
  readonly outcomes: SampleOutcome[] = []
  private total = 0
  private running = false
  private singleRunning = false
  private startedAt = 0
  private lastFinishedAt = 0
  private built: Promise<Requester> | null = null
  private readonly reportTimer: ReturnType<typeof setInterval>
  /** The link figures last reported per device. */
  private readonly reportedLinks = new Map<
    DeviceId,
    { rttMs: number | null; bytesPerMs: number | null }
  >()

  constructor(
    private readonly mesh: Mesh,
    private readonly runtime: RuntimePageHandle,
    private readonly events: HostSessionEvents,
  ) {
    this.reportTimer = setInterval(() => this.report(), REPORT_INTERVAL_MS)
  }

  /** The page's one Requester, built once the manifest is known (every mode's requests use it). */
  requester(): Promise<Requester> {
    this.built ??= this.runtime.whenReady().then(() => {
      const manifest = this.runtime.manifest()
      if (!manifest) throw new Error('no manifest')
      return new Requester({
        mesh: this.mesh,
        runner: this.runtime.client,
        manifest,
        tracker: this.tracker,
      })
    })
    // A runtime that failed to start may be retried by the next call.
    this.built.catch(() => {
      this.built = null
    })
    return this.built
  }

  /** Runs `samples` test samples (from the first) through the room; resolves with the outcomes. */
  async run(options: RunOptions): Promise<SampleOutcome[]> {
    if (this.running) throw new Error('a run is already going')
    // Taken before the first await: two calls in the same tick must not both start, and the
    // last run's figures are gone at once (a progress poll must not read them as this run's).
    this.running = true
    this.outcomes.length = 0
    this.total = options.samples
    try {
      const requester = await this.requester()
      const set = await this.loadSamples()
      this.total = Math.min(options.samples, set.count)
      this.startedAt = performance.now()
      this.lastFinishedAt = this.startedAt
      this.events.started('ensemble', this.total)
      this.events.changed()
      return await streamSamples(
        requester,
        set,
        { ...options, mode: 'ensemble', window: options.window ?? 1 },
        toOutcome,
        (outcome) => {
          this.outcomes.push(outcome)
          this.lastFinishedAt = performance.now()
          this.events.finished({ mode: 'ensemble', outcome })
          this.events.changed()
        },
      )
    } finally {
      this.running = false
      this.report()
      this.events.changed()
    }
  }

  /** One ensemble request of an input of the host's own (a drawn digit): exactly one outcome. */
  async infer(
    input: Float32Array,
    options: Omit<RunOptions, 'samples' | 'window'>,
  ): Promise<Outcome> {
    const requester = await this.requester()
    return requester.infer(input, { ...options, mode: 'ensemble' })
  }

  /**
   * Runs `samples` test samples through one device with one whole model (the teacher unless
   * `modelId` says otherwise): the single-device baseline, no redundancy.
   */
  async runSingle(options: {
    readonly samples: number
    readonly deviceId: DeviceId
    readonly modelId?: string
    readonly deadlineMs: number
    readonly window?: number
  }): Promise<SingleOutcome[]> {
    if (this.singleRunning) throw new Error('a single-device run is already going')
    // Taken before the first await: two calls in the same tick must not both start.
    this.singleRunning = true
    try {
      const requester = await this.requester()
      const set = await this.loadSamples()
      this.events.started('single', Math.min(options.samples, set.count))
      this.events.changed()
      return await streamSamples(
        requester,
        set,
        {
          mode: 'single',
          samples: options.samples,
          deviceId: options.deviceId,
          ...(options.modelId ? { model: options.modelId } : {}),
          deadlineMs: options.deadlineMs,
          window: options.window ?? 1,
        },
        toSingleOutcome,
        (outcome) => {
          this.events.finished({ mode: 'single', outcome })
          this.events.changed()
        },
      )
    } finally {
      this.singleRunning = false
      this.events.changed()
    }
  }

  /** Whether any run of this session is going. */
  get isRunning(): boolean {
    return this.running || this.singleRunning
  }

  /** The run's live figures. */
  stats(): RunStats {
    const answered = this.outcomes.filter((outcome) => outcome.prediction !== null)
    const latencies = answered.map((outcome) => outcome.latencyMs).sort((a, b) => a - b)
    const correct = answered.filter((outcome) => outcome.prediction === outcome.label).length
    const quantile = (q: number) => (latencies.length === 0 ? null : quantileOfSorted(latencies, q))
    const elapsedMs = this.lastFinishedAt - this.startedAt
    return {
      running: this.running,
      total: this.total,
      done: this.outcomes.length,
      correct,
      degraded: answered.filter((outcome) => outcome.degraded).length,
      errors: this.outcomes.length - answered.length,
      accuracy: this.outcomes.length === 0 ? null : (100 * correct) / this.outcomes.length,
      p50Ms: quantile(0.5),
      p95Ms: quantile(0.95),
      requestsPerSecond:
        this.outcomes.length > 0 && elapsedMs > 0
          ? (1_000 * this.outcomes.length) / elapsedMs
          : null,
    }
  }

  /** Used answers per device. */
  served(deviceId: DeviceId): number {
    return this.tracker.servedCounts().get(deviceId) ?? 0
  }

  /** Stops the report timer. */
  dispose(): void {
    clearInterval(this.reportTimer)
  }

  private report(): void {
    const links = new Map(
      this.mesh
        .peers()
        .filter((peer) => peer.info.role === 'device')
        .map((peer) => [peer.info.deviceId, peer]),
    )
    // Each with the round trip and bandwidth this page measured to the device: the planner's
    // hop cost. A link whose figures are new or moved is reported even when it carried no
    // request since the last report, so the plan knows its links before the first run.
    const outcomes: DeviceOutcome[] = this.tracker.drain().map((outcome) => ({
      ...outcome,
      ...this.linkFigures(links.get(outcome.deviceId)),
    }))
    const reported = new Set(outcomes.map((outcome) => outcome.deviceId))
    for (const [deviceId, peer] of links) {
      if (reported.has(deviceId) || !this.linkMoved(peer)) continue
      outcomes.push({ deviceId, requests: 0, misses: 0, ...this.linkFigures(peer) })
    }
    for (const outcome of outcomes) {
      const peer = links.get(outcome.deviceId)
      if (peer)
        this.reportedLinks.set(outcome.deviceId, { rttMs: peer.rttMs, bytesPerMs: peer.bytesPerMs })
    }
    if (outcomes.length === 0) return
    this.events.reported(outcomes.filter((outcome) => outcome.requests > 0))
    void this.mesh.tellCoordinator({ type: 'report', outcomes }).then((reply) => {
      if (!reply.ok) console.warn(`cohort: could not report outcomes: ${reply.error.message}`)
    })
  }

  private linkFigures(peer: PeerStatus | undefined): Pick<DeviceOutcome, 'rttMs' | 'bytesPerMs'> {
    return {
      ...(peer?.rttMs == null ? {} : { rttMs: peer.rttMs }),
      ...(peer?.bytesPerMs == null ? {} : { bytesPerMs: peer.bytesPerMs }),
    }
  }

  /** Whether a link's figures are new, or moved by more than a fifth, since they were reported. */
  private linkMoved(peer: PeerStatus): boolean {
    const last = this.reportedLinks.get(peer.info.deviceId)
    const moved = (now: number | null, before: number | null | undefined) =>
      now !== null && (before == null || Math.abs(now - before) > LINK_CHANGE * before)
    return moved(peer.rttMs, last?.rttMs) || moved(peer.bytesPerMs, last?.bytesPerMs)
  }

  private loadSamples(): Promise<SampleSet> {
    const manifest = this.runtime.manifest()
    if (!manifest) return Promise.reject(new Error('no manifest'))
    return loadTaskSamples(manifest)
  }
}

function toSingleOutcome(
  index: number,
  label: number,
  answer: Outcome,
  latencyMs: number,
): SingleOutcome {
  const value = answer.ok && answer.value.mode === 'single' ? answer.value : null
  return {
    index,
    label,
    prediction: value?.prediction ?? null,
    latencyMs,
    computeMs: value?.computeMs ?? null,
    error: answer.ok ? (value ? null : 'internal: not a single answer') : describe(answer.error),
  }
}

function toOutcome(
  index: number,
  label: number,
  answer: Outcome,
  latencyMs: number,
): SampleOutcome {
  const value = answer.ok && answer.value.mode === 'ensemble' ? answer.value : null
  if (!value) {
    return {
      index,
      label,
      prediction: null,
      degraded: false,
      missingSlices: [],
      latencyMs,
      k: null,
      planVersion: null,
      winners: [],
      error: answer.ok ? 'internal: not an ensemble answer' : describe(answer.error),
    }
  }
  return {
    index,
    label,
    prediction: value.prediction,
    degraded: value.degraded,
    missingSlices: value.missingSlices,
    latencyMs,
    k: value.k,
    planVersion: value.planVersion,
    winners: value.winners,
    error: null,
  }
}

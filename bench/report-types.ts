/** The shape of `bench/results/<date>.json`: everything one `npm run bench` measured. */
import type { LatencySummary } from './stats.ts'

/** How requests were made. */
export type Mode =
  | 'single'
  | 'ensemble-all'
  | 'ensemble-hedged'
  | 'early-exit'
  | 'early-exit-mixed'
  | 'cloud-only'

/**
 * What the room went through while the requests ran: nothing; devices closed mid-run (their
 * channels close at once); devices frozen mid-run (silent, noticed only by missed heartbeats);
 * stragglers slowed.
 */
export type Condition = 'normal' | 'failure' | 'frozen' | 'slowed'

/** One scenario: `requests` test samples, one at a time, from the dashboard page. */
export interface ScenarioResult {
  readonly mode: Mode
  readonly condition: Condition
  readonly requests: number
  /** Requests that ended in an answer (possibly degraded). */
  readonly answered: number
  /** Requests that ended in an error: no answer at all. */
  readonly lost: number
  readonly degraded: number
  /** Early exit: answers given early because the deadline said so. */
  readonly deadlineExits: number | null
  /** Percent correct of all requests (a lost request counts as wrong). */
  readonly accuracy: number
  /** Latency of the answered requests. */
  readonly latency: LatencySummary
  /** Data-channel bytes sent by every page during the scenario, per request (heartbeats subtracted). */
  readonly wireBytesPerRequest: number | null
  /** Tensor bytes the early-exit requester counted per request (its own accounting). */
  readonly payloadBytesPerRequest: number | null
  /** Early exit: answers per exit (mobile, edge, cloud). */
  readonly exitCounts: readonly number[] | null
  /** Early exit / cloud-only: 1 − mean cost / cloud-only cost. */
  readonly costReduction: number | null
  /** The devices closed (or frozen) mid-run, and after how many answered requests. */
  readonly failure: { readonly closed: readonly string[]; readonly afterRequests: number } | null
  /** The devices slowed down (emulated stragglers) and by how much. */
  readonly slowed: { readonly devices: readonly string[]; readonly rate: number } | null
}

/** The ensemble (all members) with K pinned from the dashboard: one row per K the task ships. */
export interface KResult {
  readonly k: number
  /** Devices per group, as the planner formed them for this K. */
  readonly groups: readonly number[]
  readonly predictedLatencyMs: number
  /** Whether every group meets the planner's resilience target (it ranks Ks that do first). */
  readonly resilienceMet: boolean
  readonly requests: number
  readonly answered: number
  readonly degraded: number
  readonly lost: number
  /** Percent correct of all requests on the shipped sample. */
  readonly accuracy: number
  /** The manifest's accuracy of this K's ensemble on the full test split. */
  readonly manifestAccuracy: number
  readonly latency: LatencySummary
}

/** One mode at one window: how many requests were in flight at once, and what that gave. */
export interface WindowResult {
  /** 'single' is the single-device teacher, the baseline at the same window. */
  readonly mode: 'single' | 'ensemble-all' | 'early-exit'
  readonly window: number
  readonly requests: number
  readonly answered: number
  readonly degraded: number
  /** Answered requests per second of wall time, from the first request sent to the last answer. */
  readonly requestsPerSecond: number
  readonly latency: LatencySummary
  /**
   * What the plan's load model predicts at this window (its unloaded latency and capacity);
   * null for the single teacher, which the plan does not cover. Absent in older reports.
   */
  readonly predicted?: WindowPrediction | null
}

/** The plan's load model at one window. */
export interface WindowPrediction {
  readonly requestsPerSecond: number
  readonly latencyMs: number
}

/** Floors measured in the same run, on the same pages. */
export interface Floors {
  /** A raw RTCDataChannel (no Cohort code) between the dashboard and a device: 4-byte echo. */
  readonly rawPing: LatencySummary
  /** Cohort's mesh echo (one small tensor) on the same pair. */
  readonly meshPing: LatencySummary
  /** Raw `session.run` inside the dashboard page's worker, per model id. */
  readonly models: Readonly<Record<string, LatencySummary>>
  /**
   * The same, measured again while the stragglers were slowed: the dashboard is never slowed,
   * so any slow-down is what the stragglers cost it on shared cores.
   */
  readonly modelsWhileSlowed: Readonly<Record<string, LatencySummary>>
  /** Teacher run + raw round trip: the fastest a single-device request can be. */
  readonly singleMs: number
  /** Slowest student + raw round trip + combiner: the fastest an ensemble request can be. */
  readonly ensembleMs: number
  /** Segment 1 on the requester: the fastest an early-exit request can be. */
  readonly earlyExitMs: number
  /** Whole backbone + raw round trip: the fastest a cloud-only request can be. */
  readonly cloudOnlyMs: number
}

/** Facts of the machine the run was made on. */
export interface MachineFacts {
  readonly cpuModel: string
  readonly cores: number
  readonly memoryGb: number
  readonly os: string
  readonly node: string
  readonly chromium: string
  readonly commit: string
  /** Tracked files with uncommitted changes when the run started (a shared checkout). */
  readonly uncommitted: readonly string[]
  /** 1-minute load average when the run started. */
  readonly loadAverage: number
}

/** The room as planned when the scenarios started. */
export interface RoomSnapshot {
  readonly planVersion: number
  readonly k: number
  readonly groups: readonly (readonly string[])[]
  readonly tiers: readonly { readonly tier: string; readonly members: readonly string[] }[]
}

/** Cohort's mesh vs a raw data channel between two pages. */
export interface MeshResult {
  readonly rounds: number
  readonly pings: number
  readonly bulkMiB: number
  readonly ping: { readonly mesh: LatencySummary; readonly raw: LatencySummary }
  readonly goodputMBps: {
    readonly mesh: readonly number[]
    readonly raw: readonly number[]
    readonly ratio: number
  }
  /** Rounds whose mesh transfer lost its link (the heartbeat gave up), with the error. */
  readonly droppedRounds: readonly { readonly round: number; readonly error: string }[]
}

/** Per model: the worker's round trip vs raw `session.run`, for one thread setting. */
export interface RuntimeResult {
  readonly threads: string
  readonly executionProvider: string
  readonly crossOriginIsolated: boolean
  readonly models: readonly {
    readonly modelId: string
    readonly rawMs: number
    readonly rawP95Ms: number
    readonly roundTripMs: number
    readonly roundTripP95Ms: number
  }[]
  /** From a killed worker to the next successful reference pass. */
  readonly recoveryMs: number
}

/** One model on both engines a Node device chooses between (raw runs, in the bench process). */
export interface EngineResult {
  readonly modelId: string
  readonly batch: number
  /** onnxruntime-node, CPU provider, 1 thread. */
  readonly native: { readonly p50Ms: number; readonly p95Ms: number }
  /** onnxruntime-web, WASM build, 1 thread. */
  readonly wasm: { readonly p50Ms: number; readonly p95Ms: number }
  readonly runs: number
}

/** The planner on a synthetic room. */
export interface PlannerResult {
  readonly devices: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly k: number | null
  readonly predictedLatencyMs: number | null
}

/** Everything one run measured. */
export interface BenchReport {
  readonly date: string
  readonly durationS: number
  readonly machine: MachineFacts
  readonly config: {
    readonly task: string
    readonly devices: number
    readonly samples: number
    readonly threads: number
    readonly slowdown: number
    readonly deadlineMs: number
  }
  /** How devices were emulated, in words. */
  readonly emulation: string
  readonly room: RoomSnapshot
  readonly thresholds: {
    readonly calibrated: readonly number[]
    readonly mixed: readonly number[]
  }
  readonly floors: Floors
  readonly scenarios: readonly ScenarioResult[]
  /** The ensemble with each K pinned, same room, same conditions as the normal rows. */
  readonly byK: readonly KResult[]
  /** Every mode at windows 1, 2, 4, 8 and 16, right after the normal rows, same room. */
  readonly byWindow: readonly WindowResult[]
  readonly micro: {
    readonly mesh: MeshResult | null
    readonly runtime: readonly RuntimeResult[]
    /** Absent in reports from before Node devices. */
    readonly engines?: readonly EngineResult[]
    readonly planner: readonly PlannerResult[]
    /** Micro-benchmarks that failed, with their error. */
    readonly failures: readonly string[]
  }
}

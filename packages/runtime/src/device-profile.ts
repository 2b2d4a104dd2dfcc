import {
  type DeviceProfile,
  DeviceProfileSchema,
  type EngineFacts,
  err,
  type Manifest,
  type ModelEntry,
  median,
  ok,
  quantile,
  type Result,
} from '@cohort/protocol'
import type { ExecutionProvider, InputSpec, RuntimeApi } from './api.ts'
import { measureEngineFacts } from './engine-facts.ts'
import { randomInputs } from './inputs.ts'

/**
 * The device profile: what this device measured about itself, the planner's input. Times are
 * measured on the models as they are actually loaded (same provider, same worker), batch 1,
 * on deterministic inputs of the manifest's shapes.
 */

/** One model's measured speed. */
export interface ModelTiming {
  readonly modelId: string
  /** Median ms of `session.run` in the engine's thread. */
  readonly medianMs: number
  readonly p95Ms: number
  /** Median ms of a full call from the page (messaging to the worker and back included). */
  readonly roundTripMedianMs: number
  readonly roundTripP95Ms: number
  readonly runs: number
  /** The model these times were measured on, when it is this one's twin (same size and shape). */
  readonly measuredOn?: string
}

/** What the device reports about itself. */
export interface DeviceProfileReport {
  readonly task: string
  /** Readable "Browser on OS". */
  readonly label: string
  readonly executionProvider: ExecutionProvider
  readonly epReason: string
  readonly threads: number
  /** navigator.hardwareConcurrency (null when hidden). */
  readonly cores: number | null
  /** navigator.deviceMemory in GB, a coarse hint (null outside Chromium). */
  readonly memoryGb: number | null
  /** What its engine can do (clock, isolation, WebGPU, wake lock). */
  readonly engine: EngineFacts
  /** A browser tab, or a Node process (always on: it has no screen to lock or tab to hide). */
  readonly platform: DevicePlatform
  /** The emulated slowdown its runs were stretched by (1: real speed). */
  readonly slowdown: number
  readonly models: readonly ModelTiming[]
  /** Median ms per model id: the planner's view of `models`. */
  readonly msPerModel: Readonly<Record<string, number>>
}

/** Where a device runs. */
export type DevicePlatform = 'browser' | 'node'

/** What to measure and what the page already knows. */
export interface ProfileInput {
  readonly task: string
  readonly label: string
  readonly executionProvider: ExecutionProvider
  readonly epReason: string
  readonly threads: number
  /**
   * Loaded models with their input specs. Models with the same `twin` key (the students of one
   * set: same architecture, same MACs) are measured once, on the first of them.
   */
  readonly models: readonly {
    readonly id: string
    readonly inputs: readonly InputSpec[]
    readonly twin?: string
  }[]
  /** Runs per model (median of N; default 15). */
  readonly runs?: number
  /** Default 'browser'. */
  readonly platform?: DevicePlatform
  /** The runtime's emulated slowdown (default 1). */
  readonly slowdown?: number
  /** Where `navigator` does not say (Node): the machine's cores and memory. */
  readonly cores?: number
  readonly memoryGb?: number
}

/** Measures every model: N back-to-back runs in the engine's thread, then N round trips. */
export async function measureDeviceProfile(
  runtime: RuntimeApi,
  input: ProfileInput,
): Promise<DeviceProfileReport> {
  const runs = input.runs ?? 15
  const models: ModelTiming[] = []
  const measuredTwins = new Map<string, ModelTiming>()
  for (const [i, model] of input.models.entries()) {
    const twin = model.twin === undefined ? undefined : measuredTwins.get(model.twin)
    if (twin) {
      models.push({ ...twin, modelId: model.id, measuredOn: twin.modelId })
      continue
    }
    const inputs = randomInputs(model.inputs, i + 1)
    const bench = await runtime.benchmark(model.id, inputs, runs)
    const trips: number[] = []
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now()
      await runtime.run(model.id, inputs)
      trips.push(performance.now() - t0)
    }
    models.push({
      modelId: model.id,
      // A run can measure 0 ms on a coarse clock; the planner wants a positive cost.
      medianMs: Math.max(median(bench.ms), 0.001),
      p95Ms: quantile(bench.ms, 0.95),
      roundTripMedianMs: median(trips),
      roundTripP95Ms: quantile(trips, 0.95),
      runs,
    })
    if (model.twin !== undefined) measuredTwins.set(model.twin, models.at(-1) as ModelTiming)
  }
  const nav: Partial<Navigator> & { deviceMemory?: unknown } = globalThis.navigator ?? {}
  return {
    task: input.task,
    label: input.label,
    executionProvider: input.executionProvider,
    epReason: input.epReason,
    threads: input.threads,
    cores:
      input.cores ?? (typeof nav.hardwareConcurrency === 'number' ? nav.hardwareConcurrency : null),
    memoryGb: input.memoryGb ?? (typeof nav.deviceMemory === 'number' ? nav.deviceMemory : null),
    engine: measureEngineFacts(input.platform ?? 'browser'),
    platform: input.platform ?? 'browser',
    slowdown: input.slowdown ?? 1,
    models,
    msPerModel: Object.fromEntries(models.map((m) => [m.modelId, m.medianMs])),
  }
}

/** The report as the coordinator's planner takes it (protocol's DeviceProfile), validated. */
export function plannerProfile(report: DeviceProfileReport): Result<DeviceProfile, string> {
  const parsed = DeviceProfileSchema.safeParse({
    task: report.task,
    label: report.label.slice(0, 80),
    executionProvider: report.executionProvider,
    threads: report.threads,
    cores: report.cores,
    memoryGb: report.memoryGb,
    msPerModel: report.msPerModel,
    platform: report.platform,
    slowdown: report.slowdown,
    engine: report.engine,
  })
  return parsed.success ? ok(parsed.data) : err(parsed.error.message)
}

/**
 * The key under which a manifest's models are measured once: the K students of one set share an
 * architecture and their MACs, so they run alike; every other model is its own.
 */
export function twinKey(entry: ModelEntry): string {
  return entry.role.kind === 'student' ? `student-of-${entry.role.of}-${entry.macs}` : entry.id
}

/** The first model of each twin set: what a profile measures (its twins take its timing). */
export function profiledModels(manifest: Manifest): ModelEntry[] {
  const seen = new Set<string>()
  return manifest.models.filter((entry) => {
    const key = twinKey(entry)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

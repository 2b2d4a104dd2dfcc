import { z } from 'zod'
import { type DeviceId, DeviceIdSchema } from './ids.ts'

/**
 * What devices report about themselves and what the coordinator's planner decides. The plan is
 * pushed to every member of a room; members validate it like any other message.
 */

/** A model id as manifests and plans name models. */
export const ModelIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a kebab-case model id')

/** A device's measured capabilities: the planner's input. */
/**
 * What differs between the engines a device may run in, as the device measured it: shown on its
 * page and sent with its profile, so a room of mixed browsers says what each one can do.
 */
export const EngineFactsSchema = z.object({
  /** The browser engine (from the user agent), or Node. */
  engine: z.enum(['chromium', 'gecko', 'webkit', 'node', 'other']),
  /** The clock's smallest step, ms: a coarse clock (1 ms outside isolation in some browsers)
   * blurs sub-millisecond round trips. */
  clockStepMs: z.number().nonnegative().max(1_000),
  /** Whether threads are possible (cross-origin isolated: SharedArrayBuffer exists). */
  crossOriginIsolated: z.boolean(),
  /** Whether WebGPU's API is present (an adapter may still be missing or a software one). */
  webgpuApi: z.boolean(),
  /** Whether the page can keep the screen on (the Screen Wake Lock API exists). */
  wakeLock: z.boolean(),
})
/** What a device's engine can do. */
export type EngineFacts = z.infer<typeof EngineFactsSchema>

/** One line for people: "gecko · clock 1 ms · not isolated (1 thread) · no WebGPU · wake lock". */
export function engineSummary(facts: EngineFacts): string {
  const clock =
    facts.clockStepMs >= 0.1
      ? `${facts.clockStepMs.toFixed(1)} ms`
      : `${Math.round(facts.clockStepMs * 1_000)} µs`
  return [
    facts.engine,
    `clock ${clock}`,
    facts.crossOriginIsolated ? 'isolated (threads)' : 'not isolated (1 thread)',
    facts.webgpuApi ? 'WebGPU API' : 'no WebGPU',
    facts.wakeLock ? 'wake lock' : 'no wake lock',
  ].join(' · ')
}

export const DeviceProfileSchema = z.object({
  task: z.string().regex(/^[a-z0-9-]{1,32}$/),
  label: z.string().max(80),
  executionProvider: z.enum(['wasm', 'webgpu', 'cpu']),
  threads: z.number().int().min(1).max(256),
  cores: z.number().int().min(1).max(1024).nullable(),
  memoryGb: z.number().positive().max(4096).nullable(),
  /** Median ms per inference (batch 1) of each model the device measured. */
  msPerModel: z.record(ModelIdSchema, z.number().positive().max(600_000)),
  /**
   * A browser tab (the default), or a Node process: always on, so the planner gives it the
   * cloud tier.
   */
  platform: z.enum(['browser', 'node']).optional(),
  /** The slowdown the device emulates (1 or absent: its real speed); its times include it. */
  slowdown: z.number().min(1).max(100).optional(),
  /** What its engine can do (absent from devices older than this field). */
  engine: EngineFactsSchema.optional(),
})
/** A device's measured capabilities. */
export type DeviceProfile = z.infer<typeof DeviceProfileSchema>

/** A number of student slices K (the manifests ship K = 1…4; the limit bounds the planner's work). */
export const EnsembleKSchema = z.number().int().min(1).max(16)

/** One RoCoIn group: the devices that run the same student; the first answer wins. */
export const EnsembleGroupSchema = z.object({
  slice: z.number().int().min(0),
  student: ModelIdSchema,
  /** Best member first: hedged requests go down this list. */
  members: z.array(DeviceIdSchema).min(1),
  /** Predicted ms from sending the input to receiving the slice, with the best member up. */
  predictedMs: z.number().nonnegative(),
  /** Probability that every member fails on one request. */
  failureProbability: z.number().min(0).max(1),
  /**
   * Members an "all" request asks at once: the fewest of the best that meet the resilience target
   * together (at least 2 when the group has 2). The others are asked only if those fail or are
   * late, so a group of 25 does not compute every request 25 times.
   */
  fanout: z.number().int().min(1),
})
/** One RoCoIn group. */
export type EnsembleGroup = z.infer<typeof EnsembleGroupSchema>

/** How one K fared in the planner's comparison. */
export const EnsembleCandidateSchema = z.object({
  k: z.number().int().min(1),
  predictedLatencyMs: z.number().nonnegative().nullable(),
  accuracy: z.number().min(0).max(100),
  resilienceMet: z.boolean(),
  chosen: z.boolean(),
  reason: z.string().max(300),
})
/** How one K fared in the planner's comparison. */
export type EnsembleCandidate = z.infer<typeof EnsembleCandidateSchema>

/** The RoCoIn part of a plan. */
export const EnsemblePlanSchema = z.object({
  k: z.number().int().min(1),
  combiner: ModelIdSchema,
  groups: z.array(EnsembleGroupSchema).min(1),
  predictedLatencyMs: z.number().nonnegative(),
  /** Requests per second the plan sustains with many in flight: its busiest device's limit. */
  capacityRps: z.number().positive(),
  /** The slice whose group sets the predicted latency. */
  bottleneckSlice: z.number().int().min(0),
  resilienceTarget: z.number().min(0).max(1),
  resilienceMet: z.boolean(),
  candidates: z.array(EnsembleCandidateSchema),
  /** The K the host pinned, if any (the plan has another K only when the pinned one cannot be formed). */
  pinnedK: EnsembleKSchema.nullable(),
  explanation: z.array(z.string().max(300)).max(20),
})
/** The RoCoIn part of a plan. */
export type EnsemblePlan = z.infer<typeof EnsemblePlanSchema>

/** A remote early-exit tier: the requester is the mobile tier; edge and cloud run later segments. */
export const TierNameSchema = z.enum(['edge', 'cloud'])
/** A remote early-exit tier's name. */
export type TierName = z.infer<typeof TierNameSchema>

/** One remote tier of the early-exit chain: the devices that run one segment. */
export const EarlyExitTierSchema = z.object({
  tier: TierNameSchema,
  /** The segment this tier runs (a model id of the task). */
  segment: ModelIdSchema,
  /** Best member first: a hop goes to the first, then fails over down the list. */
  members: z.array(DeviceIdSchema).min(1),
  /** Predicted ms of one hop to each member (compute + link), parallel to `members`. */
  memberMs: z.array(z.number().nonnegative()),
  /** Predicted ms of one hop to the best member: send, compute, reply. */
  predictedMs: z.number().nonnegative(),
})
/** One remote tier of the early-exit chain. */
export type EarlyExitTier = z.infer<typeof EarlyExitTierSchema>

/** The DistrEE / DIMEE part of a plan: tiers for segments 2..S, thresholds and predictions. */
export const EarlyExitPlanSchema = z.object({
  /** Every segment in order; the requester runs the first itself (the mobile tier). */
  segments: z.array(ModelIdSchema).min(2),
  /** Tiers for segments 2..S, in chain order. */
  tiers: z.array(EarlyExitTierSchema).min(1),
  /** alpha_i used for every exit but the last (the manifest's calibrated thresholds). */
  thresholds: z.array(z.number().nonnegative()),
  /** Expected ms of remote hops per request, weighting each tier by the share of samples reaching it. */
  expectedRemoteMs: z.number().nonnegative(),
  /** Requests per second the remote tiers sustain with many in flight (the requester's own segment 1 is its own limit). */
  capacityRps: z.number().positive(),
  explanation: z.array(z.string().max(300)).max(20),
})
/** The early-exit part of a plan. */
export type EarlyExitPlan = z.infer<typeof EarlyExitPlanSchema>

/** What the planner knew of one device when it made a plan: the facts its predictions rest on. */
export const PlannedDeviceSchema = z.object({
  deviceId: DeviceIdSchema,
  platform: z.enum(['browser', 'node']),
  executionProvider: z.enum(['wasm', 'webgpu', 'cpu']),
  /** The slowdown the device emulates (1: its real speed). */
  slowdown: z.number().min(1).max(100),
  /** Round trip to the host, ms: measured by the host when `rttMeasured`, else assumed. */
  rttMs: z.number().nonnegative(),
  rttMeasured: z.boolean(),
  /** Bandwidth of the link to the host, bytes per ms: measured when `bandwidthMeasured`. */
  bytesPerMs: z.number().positive(),
  bandwidthMeasured: z.boolean(),
  /** Estimated probability that a request to it is lost. */
  failureProbability: z.number().min(0).max(1),
})
/** What the planner knew of one device. */
export type PlannedDevice = z.infer<typeof PlannedDeviceSchema>

/** Most models a plan names for one device to keep loaded (assigned and standby together). */
export const MAX_MODELS_PER_DEVICE = 16

/**
 * The models one device keeps loaded under a plan: those its roles run, and a few it may be
 * moved to by the next replan (so a replan after a failure is served at once). Anything else it
 * loads on demand, when a request names it.
 */
export const DeviceModelsSchema = z.object({
  deviceId: DeviceIdSchema,
  /** The models the plan has it run: its group's student, its tier's segment, the teacher. */
  assigned: z.array(ModelIdSchema).max(MAX_MODELS_PER_DEVICE),
  /** Models it may be moved to: kept loaded when it can afford them, loaded ahead of need. */
  standby: z.array(ModelIdSchema).max(MAX_MODELS_PER_DEVICE),
})
/** The models one device keeps loaded under a plan. */
export type DeviceModels = z.infer<typeof DeviceModelsSchema>

/** A room's plan: which devices run what. Versioned; in-flight requests keep the plan they started with. */
export const PlanSchema = z.object({
  version: z.number().int().min(1),
  task: z.string().regex(/^[a-z0-9-]{1,32}$/),
  createdAt: z.number(),
  /** The devices the plan used (every profiled device), with what the planner knew of each. */
  devices: z.array(PlannedDeviceSchema).max(4096),
  ensemble: EnsemblePlanSchema.nullable(),
  earlyExit: EarlyExitPlanSchema.nullable(),
  /** What each planned device keeps loaded; a device not listed keeps what it has. */
  models: z.array(DeviceModelsSchema).max(4096),
})
/** A room's plan. */
export type Plan = z.infer<typeof PlanSchema>

/**
 * The device a single-model request goes to when the requester names none: the cloud tier's best
 * member (the planner's strongest device), else the first member of the first ensemble group.
 * The planner has it keep the teacher loaded.
 */
export function singleModelDevice(
  plan: Pick<Plan, 'devices' | 'ensemble' | 'earlyExit'>,
): DeviceId | undefined {
  return (
    plan.earlyExit?.tiers.at(-1)?.members[0] ??
    plan.ensemble?.groups[0]?.members[0] ??
    plan.devices[0]?.deviceId
  )
}

/** A requester's record of one device since its last report: the planner's failure evidence. */
export const DeviceOutcomeSchema = z.object({
  deviceId: DeviceIdSchema,
  requests: z.number().int().min(0).max(1_000_000),
  misses: z.number().int().min(0).max(1_000_000),
  /**
   * The requester's measured network round trip to the device (smoothed, the device's serving
   * time taken out), in ms: the planner's hop cost to it, instead of an assumed LAN round trip.
   */
  rttMs: z.number().nonnegative().max(60_000).optional(),
  /** The requester's measured bandwidth to the device, bytes per ms (1 MB/s = 1000). */
  bytesPerMs: z.number().positive().max(10_000_000).optional(),
})
/** A requester's record of one device since its last report. */
export type DeviceOutcome = z.infer<typeof DeviceOutcomeSchema>

/** A task name as rooms and manifests use it. */
export const TaskSchema = z.string().regex(/^[a-z0-9-]{1,32}$/, 'a task is a short kebab-case name')

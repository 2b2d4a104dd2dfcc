import { z } from 'zod'
import { DeviceIdSchema } from './ids.ts'

/**
 * What devices report about themselves and what the coordinator's planner decides. The plan is
 * pushed to every member of a room; members validate it like any other message.
 */

const ModelIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a kebab-case model id')

/** A device's measured capabilities: the planner's input. */
export const DeviceProfileSchema = z.object({
  task: z.string().regex(/^[a-z0-9-]{1,32}$/),
  label: z.string().max(80),
  executionProvider: z.enum(['wasm', 'webgpu']),
  threads: z.number().int().min(1).max(256),
  cores: z.number().int().min(1).max(1024).nullable(),
  memoryGb: z.number().positive().max(4096).nullable(),
  /** Median ms per inference (batch 1) of each model the device measured. */
  msPerModel: z.record(ModelIdSchema, z.number().positive().max(600_000)),
})
/** A device's measured capabilities. */
export type DeviceProfile = z.infer<typeof DeviceProfileSchema>

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
  /** The slice whose group sets the predicted latency. */
  bottleneckSlice: z.number().int().min(0),
  resilienceTarget: z.number().min(0).max(1),
  resilienceMet: z.boolean(),
  candidates: z.array(EnsembleCandidateSchema),
  explanation: z.array(z.string().max(300)).max(20),
})
/** The RoCoIn part of a plan. */
export type EnsemblePlan = z.infer<typeof EnsemblePlanSchema>

/** A room's plan: which devices run what. Versioned; in-flight requests keep the plan they started with. */
export const PlanSchema = z.object({
  version: z.number().int().min(1),
  task: z.string().regex(/^[a-z0-9-]{1,32}$/),
  createdAt: z.number(),
  /** Devices whose profiles the plan used. */
  profiled: z.array(DeviceIdSchema),
  ensemble: EnsemblePlanSchema.nullable(),
})
/** A room's plan. */
export type Plan = z.infer<typeof PlanSchema>

/** A requester's record of one device since its last report: the planner's failure evidence. */
export const DeviceOutcomeSchema = z.object({
  deviceId: DeviceIdSchema,
  requests: z.number().int().min(0).max(1_000_000),
  misses: z.number().int().min(0).max(1_000_000),
})
/** A requester's record of one device since its last report. */
export type DeviceOutcome = z.infer<typeof DeviceOutcomeSchema>

/** A task name as rooms and manifests use it. */
export const TaskSchema = z.string().regex(/^[a-z0-9-]{1,32}$/, 'a task is a short kebab-case name')

import { z } from 'zod'
import { DeviceIdSchema } from './ids.ts'

/**
 * The peer methods a device serves, each with the schema of its request payload and of its
 * answer payload (both travel as JSON in the peer message's meta; tensors travel as frames).
 * A handler parses its payload with these schemas before it does anything; a requester parses
 * the answer's payload the same way: a malformed payload is a typed error, never a guess.
 */

const Finite = z.number().refine(Number.isFinite, 'a finite number')
const NonNegative = Finite.refine((n) => n >= 0, 'a number ≥ 0')
const Count = z.number().int().min(0)
/** Most segments an early-exit chain has, and so most tiers and thresholds a hop carries. */
export const MAX_SEGMENTS = 16
/** Most members of one route tier (a classroom's tier: the meta's 16 KiB bound is far away). */
export const MAX_TIER_MEMBERS = 64

/** `run-model`: run one model of the task on the request's input frames. */
export const RUN_MODEL_METHOD = 'run-model'
export const RunModelParamsSchema = z.strictObject({
  model: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a kebab-case model id'),
})
export type RunModelParams = z.infer<typeof RunModelParamsSchema>

/** `early-exit-hop`: run one segment of the early-exit chain on a quantized activation. */
export const EARLY_EXIT_HOP_METHOD = 'early-exit-hop'

/** A tier of a route: its members, best first, and the predicted ms of a hop to each. */
export const RouteTierSchema = z
  .strictObject({
    members: z.array(DeviceIdSchema).max(MAX_TIER_MEMBERS).readonly(),
    memberMs: z.array(NonNegative).max(MAX_TIER_MEMBERS).readonly(),
  })
  .refine((tier) => tier.members.length === tier.memberMs.length, {
    message: 'a tier has one predicted ms per member',
  })
export type RouteTier = z.infer<typeof RouteTierSchema>

/** The parameters of one hop request. */
export const HopParamsSchema = z.strictObject({
  /**
   * 1-based index of the segment the addressee runs: 2..S on a uint8 activation, or 1 on the raw
   * float32 input (cloud-only: one device runs the whole backbone).
   */
  segment: z.number().int().min(1).max(MAX_SEGMENTS),
  /** The activation's per-sample minimum and scale (uint8-minmax-per-sample). */
  min: Finite,
  scale: Finite.refine((n) => n > 0, 'a positive number'),
  /** alpha of every exit but the last, as the requester chose them. */
  thresholds: z
    .array(NonNegative)
    .max(MAX_SEGMENTS - 1)
    .readonly(),
  /** ms the addressee has to answer, from when it gets the request. */
  budgetMs: Finite,
  /** The tiers after the addressee's. */
  route: z
    .array(RouteTierSchema)
    .max(MAX_SEGMENTS - 1)
    .readonly(),
})
export type HopParams = z.infer<typeof HopParamsSchema>

/** Why an exit answered. */
export const ExitReasonSchema = z.enum(['confident', 'last-exit', 'deadline-exit', 'degraded'])
export type ExitReason = z.infer<typeof ExitReasonSchema>

/** Per 1-based segment index (as a JSON key), a duration in ms. */
const BySegment = z
  .record(z.string().regex(/^[1-9][0-9]?$/), NonNegative)
  .refine((record) => Object.keys(record).length <= MAX_SEGMENTS, 'at most one entry per segment')

/** What a tier answers besides its logits frame: the exit that answered and what it cost. */
export const HopAnswerPayloadSchema = z.strictObject({
  /** 0-based index of the exit that answered. */
  exitIndex: Count,
  confidence: NonNegative,
  reason: ExitReasonSchema,
  /** How many hops beyond the addressee the answering device is (0: the addressee). */
  depth: Count,
  /** The answering device's index in its route tier (0 when depth is 0). */
  member: Count,
  /** Compute ms of each segment that ran. */
  computeMs: BySegment,
  /** Round trip of the hop to each segment beyond the addressee, as its sender measured it. */
  hopMs: BySegment,
  /** Payload bytes sent and received beyond the addressee (re-sends included). */
  bytes: NonNegative,
  /** Hops beyond the addressee that ran their segment. */
  offloads: Count,
  /** Re-sends beyond the addressee after a member failed or did not answer in time. */
  failovers: Count,
})
export type HopAnswerPayload = z.infer<typeof HopAnswerPayloadSchema>

import {
  type DeviceId,
  type ExitReason,
  type HopAnswerPayload,
  HopAnswerPayloadSchema,
  type HopParams,
  HopParamsSchema,
  MAX_TIER_MEMBERS,
  type RouteTier,
} from '@cohort/protocol'

/**
 * The early-exit (DistrEE / DIMEE) rules shared by the requester and the tiers: the exit rule,
 * the deadline rule, and the checks a hop's parameters and answer meet beyond their wire schemas
 * (which live in protocol's peer-methods.ts).
 */

/**
 * An exit's confidence: max softmax computed in float64 as 1 / sum_j exp(z_j - max z), as the
 * manifest says (a float32 softmax saturates at exactly 1 and would blur thresholds near 1).
 */
export function exitConfidence(logits: ArrayLike<number>): number {
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] ?? max)
  let sum = 0
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] ?? max) - max)
  return sum > 0 ? 1 / sum : 0
}

/** What a tier does after running its segment. */
export type HopDecision =
  | { readonly action: 'exit'; readonly reason: ExitReason }
  | { readonly action: 'forward' }

/** What a tier knows when it decides. */
export interface HopFacts {
  readonly confidence: number
  /** alpha of this exit; undefined at the last exit, which always answers. */
  readonly threshold: number | undefined
  /** Whether the next tier has any member to send to. */
  readonly hasNextTier: boolean
  /** ms this tier has spent since it got the request. */
  readonly elapsedMs: number
  /** ms this tier has in all to answer. */
  readonly budgetMs: number
  /** Predicted ms of the next hop (transfer + compute + reply), from profiles and round trips. */
  readonly nextHopMs: number
}

/**
 * The exit rule (exit when confident, the last exit always answers) and DistrEE's deadline rule:
 * a tier that is not confident but whose next hop would miss the remaining budget answers with
 * its exit as a deadline-exit. With no next tier left, its exit is a degraded answer.
 */
export function decideHop(facts: HopFacts): HopDecision {
  if (facts.threshold === undefined) return { action: 'exit', reason: 'last-exit' }
  if (facts.confidence >= facts.threshold) return { action: 'exit', reason: 'confident' }
  if (!facts.hasNextTier) return { action: 'exit', reason: 'degraded' }
  if (facts.elapsedMs + facts.nextHopMs > facts.budgetMs)
    return { action: 'exit', reason: 'deadline-exit' }
  return { action: 'forward' }
}

/**
 * Predicted ms of the next hop to a tier's best member: the plan's prediction (compute from the
 * member's profile, bytes over the link) plus the link's measured round trip, when there is one
 * (the plan only assumes a LAN round trip; a busy room's are longer).
 */
export function nextHopMs(
  tier: RouteTier | undefined,
  measuredRttMs: (id: DeviceId) => number | null,
): number {
  const best = tier?.members[0]
  if (!tier || best === undefined) return 0
  return (tier.memberMs[0] ?? 0) + (measuredRttMs(best) ?? 0)
}

/** A route as it travels: each tier cut to the members a hop may carry. */
export function routeForWire(tiers: readonly RouteTier[]): RouteTier[] {
  return tiers.map((tier) => ({
    members: tier.members.slice(0, MAX_TIER_MEMBERS),
    memberMs: tier.memberMs.slice(0, MAX_TIER_MEMBERS),
  }))
}

/** Validates a hop's parameters for a chain of `segments`; the string says what is wrong. */
export function parseHopParams(payload: unknown, segments: number): HopParams | string {
  const parsed = HopParamsSchema.safeParse(payload)
  if (!parsed.success) return `bad hop parameters: ${firstIssue(parsed.error)}`
  const params = parsed.data
  if (params.segment > segments) return `segment must be an integer from 1 to ${segments}`
  if (params.thresholds.length !== segments - 1) return `thresholds must be ${segments - 1} numbers`
  if (params.route.length !== segments - params.segment)
    return `route must list the ${segments - params.segment} tiers after segment ${params.segment}`
  return params
}

/** What a tier answers: its logits, the exit that answered and what the chain beyond it cost. */
export interface HopAnswer extends HopAnswerPayload {
  readonly logits: Float32Array
}

/** The tensor name of an answer's logits. */
export const HOP_LOGITS = 'logits'

/** A hop answer's payload: everything but the logits, which travel as a frame. */
export function hopAnswerPayload(answer: HopAnswer): HopAnswerPayload {
  const { logits: _logits, ...payload } = answer
  return payload
}

/**
 * Rebuilds a hop answer from a reply to a hop for `segment` (1-based) of `segments`, or says what
 * is wrong with it: a malformed answer counts as that member's failure.
 */
export function decodeHopAnswer(
  logits: Float32Array | undefined,
  payload: unknown,
  segment: number,
  segments: number,
  classes: number,
): HopAnswer | string {
  if (!logits || logits.length !== classes) return `the answer needs ${classes} float32 logits`
  const parsed = HopAnswerPayloadSchema.safeParse(payload)
  if (!parsed.success) return `bad hop answer: ${firstIssue(parsed.error)}`
  const { exitIndex } = parsed.data
  if (exitIndex < segment - 1 || exitIndex > segments - 1) return `exit ${exitIndex} out of range`
  return { ...parsed.data, logits }
}

function firstIssue(error: {
  issues: readonly { path: PropertyKey[]; message: string }[]
}): string {
  const issue = error.issues[0]
  return issue ? `${issue.path.map(String).join('.') || 'payload'}: ${issue.message}` : 'invalid'
}

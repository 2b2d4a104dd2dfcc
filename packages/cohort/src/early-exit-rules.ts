import type { RequestParams } from '@cohort/mesh'
import { type DeviceId, DeviceIdSchema } from '@cohort/protocol'

/**
 * The early-exit (DistrEE / DIMEE) rules shared by the requester and the tiers: the exit rule,
 * the deadline rule, and how a hop's route and answer travel as request parameters and timings.
 */

/** The peer method a remote tier serves: run one segment on a quantized activation. */
export const EARLY_EXIT_HOP_METHOD = 'early-exit-hop'

/** Why an exit answered. */
export type ExitReason = 'confident' | 'last-exit' | 'deadline-exit' | 'degraded'

const REASON_CODES: Record<ExitReason, number> = {
  confident: 0,
  'last-exit': 1,
  'deadline-exit': 2,
  degraded: 3,
}
const REASONS = Object.keys(REASON_CODES) as ExitReason[]

/** The number a reason travels as (timings are numbers). */
export function exitReasonCode(reason: ExitReason): number {
  return REASON_CODES[reason]
}

/** The reason a code stands for, or null. */
export function exitReasonFromCode(code: number | undefined): ExitReason | null {
  return REASONS.find((reason) => REASON_CODES[reason] === code) ?? null
}

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

/** A tier of a route: its members, best first, and the predicted ms of a hop to each. */
export interface RouteTier {
  readonly members: readonly DeviceId[]
  readonly memberMs: readonly number[]
}

/** At most this many members of a tier travel in a route (request parameters are short). */
export const MAX_ROUTE_MEMBERS = 4

/** Tiers as one parameter: `a,b;c,d` (members) — the ms go separately, see encodeRouteMs. */
export function encodeRoute(tiers: readonly RouteTier[]): string {
  return tiers.map((tier) => tier.members.slice(0, MAX_ROUTE_MEMBERS).join(',')).join(';')
}

/** Predicted hop ms of the route's members, in the route's shape: `1.20,1.50;3.10`. */
export function encodeRouteMs(tiers: readonly RouteTier[]): string {
  return tiers
    .map((tier) =>
      tier.memberMs
        .slice(0, MAX_ROUTE_MEMBERS)
        .map((ms) => ms.toFixed(3))
        .join(','),
    )
    .join(';')
}

/** Parses a route and its ms; null when either is malformed or they disagree in shape. */
export function parseRoute(route: string, routeMs: string): RouteTier[] | null {
  if (route === '') return routeMs === '' ? [] : null
  const tiers = route.split(';')
  const ms = routeMs.split(';')
  if (tiers.length !== ms.length) return null
  const parsed: RouteTier[] = []
  for (const [index, text] of tiers.entries()) {
    const members = text === '' ? [] : text.split(',')
    const times = (ms[index] ?? '') === '' ? [] : (ms[index] ?? '').split(',').map(Number)
    if (members.length !== times.length || members.length > MAX_ROUTE_MEMBERS) return null
    const ids: DeviceId[] = []
    for (const member of members) {
      const id = DeviceIdSchema.safeParse(member)
      if (!id.success) return null
      ids.push(id.data)
    }
    if (times.some((t) => !Number.isFinite(t) || t < 0)) return null
    parsed.push({ members: ids, memberMs: times })
  }
  return parsed
}

/** Thresholds as one parameter (full precision, so both sides compare the same numbers). */
export function encodeThresholds(thresholds: readonly number[]): string {
  return thresholds.map((alpha) => String(alpha)).join(',')
}

/** Parses thresholds; null when malformed. */
export function parseThresholds(text: string): number[] | null {
  if (text === '') return []
  const values = text.split(',').map(Number)
  return values.every((v) => Number.isFinite(v) && v >= 0) ? values : null
}

/** The parameters of one hop request. */
export interface HopParams {
  /**
   * 1-based index of the segment the addressee runs: 2..S on a uint8 activation, or 1 on the raw
   * float32 input (cloud-only: one device runs the whole backbone).
   */
  readonly segment: number
  /** The activation's per-sample minimum and scale (uint8-minmax-per-sample). */
  readonly min: number
  readonly scale: number
  /** alpha of every exit but the last, as the requester chose them. */
  readonly thresholds: readonly number[]
  /** ms the addressee has to answer, from when it gets the request. */
  readonly budgetMs: number
  /** The tiers after the addressee's. */
  readonly route: readonly RouteTier[]
}

/** A hop's parameters for the wire. */
export function encodeHopParams(params: HopParams): RequestParams {
  return {
    segment: params.segment,
    min: params.min,
    scale: params.scale,
    thresholds: encodeThresholds(params.thresholds),
    budgetMs: params.budgetMs,
    route: encodeRoute(params.route),
    routeMs: encodeRouteMs(params.route),
  }
}

/** Validates a hop's parameters; the string says what is wrong. */
export function parseHopParams(params: RequestParams, segments: number): HopParams | string {
  const { segment, min, scale, budgetMs, thresholds, route, routeMs } = params
  if (
    typeof segment !== 'number' ||
    !Number.isInteger(segment) ||
    segment < 1 ||
    segment > segments
  )
    return `segment must be an integer from 1 to ${segments}`
  if (typeof min !== 'number' || !Number.isFinite(min)) return 'min must be a finite number'
  if (typeof scale !== 'number' || !(scale > 0) || !Number.isFinite(scale))
    return 'scale must be a positive number'
  if (typeof budgetMs !== 'number' || !Number.isFinite(budgetMs)) return 'budgetMs must be a number'
  const alphas = typeof thresholds === 'string' ? parseThresholds(thresholds) : null
  if (!alphas || alphas.length !== segments - 1)
    return `thresholds must be ${segments - 1} comma-separated numbers`
  const tiers =
    typeof route === 'string' && typeof routeMs === 'string' ? parseRoute(route, routeMs) : null
  if (!tiers || tiers.length !== segments - segment)
    return `route must list the ${segments - segment} tiers after segment ${segment}`
  return { segment, min, scale, thresholds: alphas, budgetMs, route: tiers }
}

/** What a tier answers: the exit that answered and what the chain beyond it cost. */
export interface HopAnswer {
  readonly logits: Float32Array
  /** 0-based index of the exit that answered. */
  readonly exitIndex: number
  readonly confidence: number
  readonly reason: ExitReason
  /** How many hops beyond the addressee the answering device is (0: the addressee). */
  readonly depth: number
  /** The answering device's index in its route tier (0 when depth is 0). */
  readonly member: number
  /** Compute ms of each segment that ran, by 1-based segment index. */
  readonly computeMs: Readonly<Record<number, number>>
  /** Round trip of the hop to each segment beyond the addressee, as its sender measured it. */
  readonly hopMs: Readonly<Record<number, number>>
  /** Payload bytes sent and received beyond the addressee (re-sends included). */
  readonly bytes: number
  /** Hops beyond the addressee that ran their segment. */
  readonly offloads: number
  /** Re-sends beyond the addressee after a member failed or did not answer in time. */
  readonly failovers: number
}

/** The tensor name of an answer's logits. */
export const HOP_LOGITS = 'logits'

/** A hop answer's scalars as RPC timings (numbers only; at most 32 keys). */
export function encodeHopTimings(answer: HopAnswer): Record<string, number> {
  const timings: Record<string, number> = {
    exit: answer.exitIndex,
    confidence: answer.confidence,
    reason: exitReasonCode(answer.reason),
    depth: answer.depth,
    member: answer.member,
    bytes: answer.bytes,
    offloads: answer.offloads,
    failovers: answer.failovers,
  }
  for (const [segment, ms] of Object.entries(answer.computeMs)) timings[`computeMs${segment}`] = ms
  for (const [segment, ms] of Object.entries(answer.hopMs)) timings[`hopMs${segment}`] = ms
  return timings
}

/**
 * Rebuilds a hop answer from a reply to a hop for `segment` (1-based) of `segments`, or says what
 * is wrong with it: a malformed answer counts as that member's failure.
 */
export function decodeHopAnswer(
  logits: Float32Array | undefined,
  timings: Readonly<Record<string, number>>,
  segment: number,
  segments: number,
  classes: number,
): HopAnswer | string {
  if (!logits || logits.length !== classes) return `the answer needs ${classes} float32 logits`
  const exitIndex = timings.exit
  if (exitIndex === undefined || !Number.isInteger(exitIndex)) return 'the answer has no exit'
  if (exitIndex < segment - 1 || exitIndex > segments - 1) return `exit ${exitIndex} out of range`
  const reason = exitReasonFromCode(timings.reason)
  if (!reason) return 'the answer has no reason'
  const count = (key: string) => {
    const value = timings[key] ?? 0
    return Number.isFinite(value) && value >= 0 ? value : 0
  }
  const computeMs: Record<number, number> = {}
  const hopMs: Record<number, number> = {}
  for (let s = segment; s <= segments; s++) {
    if (timings[`computeMs${s}`] !== undefined) computeMs[s] = count(`computeMs${s}`)
    if (timings[`hopMs${s}`] !== undefined) hopMs[s] = count(`hopMs${s}`)
  }
  return {
    logits,
    exitIndex,
    confidence: count('confidence'),
    reason,
    depth: count('depth'),
    member: count('member'),
    computeMs,
    hopMs,
    bytes: count('bytes'),
    offloads: count('offloads'),
    failovers: count('failovers'),
  }
}

import type { Mesh } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  type ExitReason,
  err,
  type Manifest,
  ok,
  type Plan,
  type Result,
  type RouteTier,
} from '@cohort/protocol'
import { type CostModel, costModelFromManifest, requestCost } from './early-exit-cost.ts'
import { forwardHop, type LocalHop } from './early-exit-hop.ts'
import { decideHop, exitConfidence, nextHopMs } from './early-exit-rules.ts'
import { runSegment } from './early-exit-segment.ts'
import { argmax } from './ensemble-requester.ts'
import type { ModelRunner } from './model-runner.ts'
import type { OutcomeTracker } from './outcome-tracker.ts'

/** Options of one early-exit request. */
export interface EarlyExitRequestOptions {
  /** The answer is due this many ms after the request starts (DistrEE's QoS deadline). */
  readonly deadlineMs: number
  /** alpha per exit but the last; the plan's (the manifest's calibrated ones) by default. */
  readonly thresholds?: readonly number[]
  readonly signal?: AbortSignal
}

/** Where one segment of an answer ran and how long it took. */
export interface SegmentHop {
  /** 1-based segment index. */
  readonly segment: number
  /** The device that ran it; null for the requester itself. */
  readonly deviceId: DeviceId | null
  readonly computeMs: number
  /** Round trip of the hop that brought the activation to it (null on the requester). */
  readonly hopMs: number | null
}

/** An early-exit answer. */
export interface EarlyExitAnswer {
  readonly prediction: number
  readonly logits: Float32Array
  /** 0-based index of the exit that answered. */
  readonly exitIndex: number
  readonly confidence: number
  readonly reason: ExitReason
  /** The chain broke (a tier had no member left) and the answer is the best exit at hand. */
  readonly degraded: boolean
  /** A tier answered early because the next hop would have missed the deadline. */
  readonly deadlineExit: boolean
  /** The device whose exit answered; null for the requester itself. */
  readonly answeredBy: DeviceId | null
  readonly segments: readonly SegmentHop[]
  /** Payload bytes on the wire for this request (activations with re-sends, answers). */
  readonly bytes: number
  /** Hops that ran a segment remotely. */
  readonly offloads: number
  /** Re-sends to another member of a tier. */
  readonly failovers: number
  /** MACs run per tier (mobile, edge, cloud…) for the answer. */
  readonly macsPerSegment: readonly number[]
  /** The manifest's cost of this request (lambda * MMACs + offload * hops). */
  readonly cost: number
  readonly latencyMs: number
  /** Wall ms until segment 1's exit was known on the requester (worker round trip included). */
  readonly mobileMs: number
  readonly planVersion: number | null
}

/** What the requester needs. */
export interface EarlyExitDependencies {
  readonly request: Mesh['request']
  /** Runs segment 1 (and, for a route through itself, later segments) locally. */
  readonly runner: ModelRunner
  readonly manifest: Manifest
  readonly tracker: OutcomeTracker
  readonly rttMs?: (deviceId: DeviceId) => number | null
  /** The requester's own hop server, for a route through itself (it is rarely a tier member). */
  readonly serveLocally?: LocalHop
  readonly self?: DeviceId | null
  readonly now?: () => number
}

/**
 * DistrEE / DIMEE inference as the mobile tier: the requester runs segment 1 itself and exits when
 * confident; otherwise the quantized activation goes to the edge tier, which exits or forwards to
 * the cloud tier; the device that finishes answers, relayed back along the chain. A tier that would
 * miss the deadline answers with its exit (deadline-exit); a tier with no member left makes the
 * answer the best exit at hand (degraded). Exactly one outcome: an answer, or a typed error when
 * segment 1 itself cannot run or the request is cancelled.
 */
export async function inferEarlyExit(
  deps: EarlyExitDependencies,
  plan: Plan | null,
  input: Float32Array,
  options: EarlyExitRequestOptions,
): Promise<Result<EarlyExitAnswer, CohortError>> {
  const now = deps.now ?? (() => performance.now())
  const startedAt = now()
  const manifest = deps.manifest
  const ee = manifest.earlyExit
  const segments = ee.segments.length
  const thresholds = options.thresholds ?? plan?.earlyExit?.thresholds ?? ee.thresholds
  if (thresholds.length !== segments - 1) {
    return err(new CohortError('bad-message', `early exit needs ${segments - 1} thresholds`))
  }
  if (options.signal?.aborted)
    return err(new CohortError('cancelled', 'cancelled before it started'))
  const cost = costModelFromManifest(manifest)
  const route: RouteTier[] = (plan?.earlyExit?.tiers ?? []).map((tier) => ({
    members: tier.members,
    memberMs: tier.memberMs,
  }))

  let first: Awaited<ReturnType<typeof runSegment>>
  try {
    first = await runSegment(deps.runner, manifest, 1, input, options.signal)
  } catch (error) {
    if (options.signal?.aborted)
      return err(new CohortError('cancelled', 'the early-exit request was cancelled'))
    return err(new CohortError('internal', `segment 1 failed on the requester: ${String(error)}`))
  }
  const mobileMs = now() - startedAt
  const confidence = exitConfidence(first.logits)
  const mobile: SegmentHop = {
    segment: 1,
    deviceId: null,
    computeMs: first.computeMs,
    hopMs: null,
  }
  const local = (reason: ExitReason, bytes: number, failovers: number) =>
    answer(
      {
        logits: first.logits,
        exitIndex: 0,
        confidence,
        reason,
        answeredBy: null,
        segments: [mobile],
        bytes,
        offloads: 0,
        failovers,
        mobileMs,
      },
      cost,
      now() - startedAt,
      plan,
    )
  const decision = decideHop({
    confidence,
    threshold: segments > 1 ? thresholds[0] : undefined,
    hasNextTier: (route[0]?.members.length ?? 0) > 0 && first.activation !== null,
    elapsedMs: now() - startedAt,
    budgetMs: options.deadlineMs,
    nextHopMs: nextHopMs(route[0], deps.rttMs ?? (() => null)),
  })
  if (decision.action === 'exit' || !first.activation) {
    return ok(local(decision.action === 'exit' ? decision.reason : 'last-exit', 0, 0))
  }
  const hop = await forwardHop(
    {
      manifest,
      request: deps.request,
      rttMs: deps.rttMs ?? (() => null),
      self: deps.self ?? null,
      serveLocally:
        deps.serveLocally ??
        (() => Promise.resolve(err(new CohortError('no-handler', 'no local hop server')))),
      now,
      onAnswered: (deviceId, ms) => deps.tracker.answered(deviceId, ms),
      onMissed: (deviceId) => deps.tracker.missed(deviceId),
    },
    {
      toSegment: 2,
      activation: first.activation,
      thresholds,
      route,
      budgetMs: options.deadlineMs - (now() - startedAt),
      ...(options.signal ? { signal: options.signal } : {}),
    },
  )
  if (options.signal?.aborted)
    return err(new CohortError('cancelled', 'the early-exit request was cancelled'))
  const remote = hop.answer
  if (!remote || !hop.deviceId) {
    return ok(local(hop.timedOut ? 'deadline-exit' : 'degraded', hop.bytes, hop.failovers))
  }
  // The device that answered: the edge itself (depth 0) or one further down the route.
  const answeredBy =
    remote.depth === 0
      ? hop.deviceId
      : (route[remote.depth]?.members[remote.member] ?? hop.deviceId)
  deps.tracker.won(answeredBy)
  const remoteSegments: SegmentHop[] = []
  for (let segment = 2; segment <= remote.exitIndex + 1; segment++) {
    const depth = segment - 2
    remoteSegments.push({
      segment,
      deviceId:
        depth === 0
          ? hop.deviceId
          : depth === remote.depth
            ? answeredBy
            : (route[depth]?.members[0] ?? null),
      computeMs: remote.computeMs[segment] ?? 0,
      hopMs: segment === 2 ? hop.roundTripMs : (remote.hopMs[segment] ?? null),
    })
  }
  return ok(
    answer(
      {
        logits: remote.logits,
        exitIndex: remote.exitIndex,
        confidence: remote.confidence,
        reason: remote.reason,
        answeredBy,
        segments: [mobile, ...remoteSegments],
        bytes: hop.bytes + remote.bytes,
        offloads: (hop.local ? 0 : 1) + remote.offloads,
        failovers: hop.failovers + remote.failovers,
        mobileMs,
      },
      cost,
      now() - startedAt,
      plan,
    ),
  )
}

interface AnswerParts {
  readonly logits: Float32Array
  readonly exitIndex: number
  readonly confidence: number
  readonly reason: ExitReason
  readonly answeredBy: DeviceId | null
  readonly segments: readonly SegmentHop[]
  readonly bytes: number
  readonly offloads: number
  readonly failovers: number
  readonly mobileMs: number
}

function answer(
  parts: AnswerParts,
  cost: CostModel,
  latencyMs: number,
  plan: Plan | null,
): EarlyExitAnswer {
  const macsPerSegment = cost.segmentMacs.map((macs, index) =>
    index <= parts.exitIndex ? macs : 0,
  )
  return {
    ...parts,
    prediction: argmax(parts.logits),
    degraded: parts.reason === 'degraded',
    deadlineExit: parts.reason === 'deadline-exit',
    macsPerSegment,
    cost: requestCost(cost, parts.exitIndex + 1, parts.offloads),
    latencyMs,
    planVersion: plan?.version ?? null,
  }
}

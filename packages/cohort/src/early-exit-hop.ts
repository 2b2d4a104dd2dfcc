import type { Mesh } from '@cohort/mesh'
import type { CohortError, DeviceId, Manifest, Result, Tensor } from '@cohort/protocol'
import { EARLY_EXIT_HOP_METHOD, err, type HopParams, ok, type RouteTier } from '@cohort/protocol'
import { decodeHopAnswer, HOP_LOGITS, type HopAnswer, routeForWire } from './early-exit-rules.ts'
import { activationTensor, quantizeOne } from './early-exit-segment.ts'
import { firstAnswer } from './first-answer.ts'

/**
 * One hop down the early-exit chain, shared by the requester (mobile to edge) and the tiers
 * (edge to cloud): quantize the activation, send it to the next tier's best member, fail over down
 * the tier when a member fails or does not answer within its ack window, and give back the first
 * answer. The answer comes back along the chain: a tier that forwards relays the answer of the
 * device that finished as its own reply (request/response over the data channels we already
 * have; "answers the requester directly" costs one extra relay per hop this way, see
 * ../early-exit.md).
 */

/** A hop's ack window is this multiple of its predicted time… */
export const ACK_FACTOR = 4
/** …and never less than this (ms), so scheduling noise on a busy device is not a failure. */
export const MIN_ACK_MS = 250
/** Assumed round trip (ms) to a device whose link has no measurement yet. */
export const DEFAULT_RTT_MS = 1

/** Serves a hop addressed to this very device (it is in the next tier too), without the network. */
export type LocalHop = (
  params: HopParams,
  tensor: Tensor,
  signal: AbortSignal,
) => Promise<Result<HopAnswer, CohortError>>

/** What a hop needs. */
export interface HopDependencies {
  readonly manifest: Manifest
  readonly request: Mesh['request']
  /** Smoothed round trip of the link to a peer, if measured. */
  readonly rttMs: (deviceId: DeviceId) => number | null
  /** This device's id, so a route through itself is served locally. */
  readonly self: DeviceId | null
  readonly serveLocally: LocalHop
  readonly now: () => number
  readonly onAnswered?: (deviceId: DeviceId, ms: number) => void
  readonly onMissed?: (deviceId: DeviceId) => void
}

/** What one hop asks. */
export interface HopRequest {
  /** 1-based segment the next tier runs. */
  readonly toSegment: number
  readonly activation: Float32Array
  readonly thresholds: readonly number[]
  /** The next tier first, then the tiers after it. */
  readonly route: readonly RouteTier[]
  /** ms from now until the answer must be back here. */
  readonly budgetMs: number
  readonly signal?: AbortSignal
}

/** A hop's outcome. */
export interface HopOutcome {
  readonly answer: HopAnswer | null
  /** The device that took the hop (first tier of the route), if any answered. */
  readonly deviceId: DeviceId | null
  readonly member: number
  readonly roundTripMs: number
  /** Payload bytes of this hop: every (re-)send of the activation, and the answer's logits. */
  readonly bytes: number
  /** Members the hop was sent to beyond the first. */
  readonly failovers: number
  /**
   * True when the hop ran out of budget while its members were still within their ack windows
   * (a deadline-exit); false when it answered, or when the tier broke (members failed or missed
   * their windows: degraded).
   */
  readonly timedOut: boolean
  /** True when this device served the hop itself (it is in the next tier too): no network. */
  readonly local: boolean
}

/** Bytes of the activation's min and scale, sent as parameters with every hop. */
const QUANT_PARAM_BYTES = 8

/** Sends the activation to the next tier, with failover; never rejects. */
export async function forwardHop(deps: HopDependencies, hop: HopRequest): Promise<HopOutcome> {
  const [tier, ...rest] = hop.route
  const startedAt = deps.now()
  const budgetEnd = startedAt + hop.budgetMs
  const { quantized, min, scale } = quantizeOne(hop.activation)
  const tensor = activationTensor(deps.manifest, hop.toSegment, quantized)
  const logitsBytes = deps.manifest.classes.length * 4
  // The ack window covers this member's own hop and, after it, every later tier failing over
  // through all of its members: an upstream hop must not give up on a downstream re-send.
  const window = (ms: number) => Math.max(MIN_ACK_MS, ACK_FACTOR * ms)
  const restMs = rest.reduce(
    (sum, later) => sum + later.members.length * window(later.memberMs[0] ?? 0),
    0,
  )
  const outOfTime = new AbortController()
  const timer = setTimeout(() => outOfTime.abort(), Math.max(0, hop.budgetMs))
  const onCancel = () => outOfTime.abort()
  hop.signal?.addEventListener('abort', onCancel, { once: true })
  const segments = deps.manifest.earlyExit.segments.length
  let networkSends = 0
  try {
    const outcome = await firstAnswer<{ answer: HopAnswer; roundTripMs: number }>({
      members: tier?.members ?? [],
      signal: outOfTime.signal,
      // A member not acknowledged within its window is followed by the next (failover).
      staggerMs: (member) => window(tier?.memberMs[member] ?? 0) + restMs,
      windowIsMiss: true,
      onMiss: (deviceId) => deps.onMissed?.(deviceId),
      attempt: async (deviceId, _member, signal) => {
        const sentAt = deps.now()
        const remaining = budgetEnd - sentAt
        if (remaining <= 0) return err('no budget left')
        const params: HopParams = {
          segment: hop.toSegment,
          min,
          scale,
          thresholds: hop.thresholds,
          // The addressee's answer must travel back: it gets the budget minus one round trip.
          budgetMs: remaining - (deps.rttMs(deviceId) ?? DEFAULT_RTT_MS),
          route: routeForWire(rest),
        }
        if (deviceId === deps.self) {
          // Served here, without the network.
          const local = await deps.serveLocally(params, tensor, signal)
          return local.ok
            ? ok({ answer: local.value, roundTripMs: deps.now() - sentAt })
            : err(local.error)
        }
        networkSends++
        const reply = await deps.request(deviceId, EARLY_EXIT_HOP_METHOD, [tensor], {
          deadlineMs: remaining,
          signal,
          payload: params,
        })
        if (!reply.ok) return reply
        const frame = reply.value.frames.find((candidate) => candidate.name === HOP_LOGITS)
        const answer = decodeHopAnswer(
          frame?.dtype === 'float32' ? frame.data : undefined,
          reply.value.payload,
          hop.toSegment,
          segments,
          deps.manifest.classes.length,
        )
        if (typeof answer === 'string') return err(`${deviceId} answered badly: ${answer}`)
        deps.onAnswered?.(deviceId, reply.value.roundTripMs)
        return ok({ answer, roundTripMs: reply.value.roundTripMs })
      },
    })
    const sentBytes = networkSends * (quantized.q.byteLength + QUANT_PARAM_BYTES)
    const winner = outcome.winner
    const local = winner?.deviceId === deps.self
    return {
      answer: winner?.value.answer ?? null,
      deviceId: winner?.deviceId ?? null,
      member: winner?.member ?? 0,
      roundTripMs: winner?.value.roundTripMs ?? deps.now() - startedAt,
      bytes: sentBytes + (winner && !local ? logitsBytes : 0),
      failovers: Math.max(0, outcome.sent - 1),
      timedOut: !winner && outcome.failed === 0 && outOfTime.signal.aborted && !hop.signal?.aborted,
      local,
    }
  } finally {
    clearTimeout(timer)
    hop.signal?.removeEventListener('abort', onCancel)
  }
}

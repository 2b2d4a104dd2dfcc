import type { IncomingRequest, Mesh, RpcHandler } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  dequantizeActivation,
  err,
  type HopParams,
  type Manifest,
  ok,
  type Result,
  type Tensor,
  toCohortError,
} from '@cohort/protocol'
import { DEFAULT_RTT_MS, forwardHop, type HopDependencies } from './early-exit-hop.ts'
import {
  decideHop,
  exitConfidence,
  HOP_LOGITS,
  type HopAnswer,
  hopAnswerPayload,
  nextHopMs,
  parseHopParams,
} from './early-exit-rules.ts'
import { runSegment, segmentFacts } from './early-exit-segment.ts'
import type { ModelRunner } from './model-runner.ts'
import type { ModelHolder } from './planned-models.ts'

/** What a device needs to serve early-exit hops. */
export interface EarlyExitServerDependencies {
  readonly manifest: Manifest
  readonly runner: ModelRunner
  readonly request: Mesh['request']
  readonly rttMs: (deviceId: DeviceId) => number | null
  readonly self: () => DeviceId | null
  /** This device's models: a segment it has not loaded is loaded on demand. */
  readonly models: ModelHolder
  readonly now?: () => number
}

/**
 * A device's handler for `early-exit-hop` (an edge or cloud tier): it dequantizes the incoming
 * uint8 activation, runs its segment, and exits when confident, at the last exit, or when the next
 * hop would miss the remaining budget (deadline-exit). Otherwise it forwards its own activation to
 * the next tier (with failover) and relays that answer as its reply; when the next tier has no
 * member left, or the budget ends while it waits, it answers with its own exit (degraded or
 * deadline-exit). Per-hop timings and bytes travel in the reply.
 */
export function earlyExitServer(deps: EarlyExitServerDependencies): RpcHandler {
  const now = deps.now ?? (() => performance.now())
  const segments = deps.manifest.earlyExit.segments.length

  const serve = async (
    params: HopParams,
    frame: Tensor,
    signal: AbortSignal,
  ): Promise<Result<HopAnswer, CohortError>> => {
    const receivedAt = now()
    const facts = segmentFacts(deps.manifest, params.segment)
    const input = hopInput(deps.manifest, params, frame)
    if (typeof input === 'string') return err(new CohortError('bad-input', `${facts.id} ${input}`))
    let release: () => void
    try {
      release = await deps.models.hold(facts.id, signal)
    } catch (error) {
      return err(toCohortError(error, 'not-loaded'))
    }
    let output: Awaited<ReturnType<typeof runSegment>>
    try {
      output = await runSegment(deps.runner, deps.manifest, params.segment, input, signal)
    } finally {
      release()
    }
    const confidence = exitConfidence(output.logits)
    const [next] = params.route
    const decision = decideHop({
      confidence,
      threshold: params.segment < segments ? params.thresholds[params.segment - 1] : undefined,
      hasNextTier: (next?.members.length ?? 0) > 0 && output.activation !== null,
      elapsedMs: now() - receivedAt,
      budgetMs: params.budgetMs,
      nextHopMs: nextHopMs(next, deps.rttMs),
    })
    const own = (reason: HopAnswer['reason'], bytes = 0, failovers = 0): HopAnswer => ({
      logits: output.logits,
      exitIndex: params.segment - 1,
      confidence,
      reason,
      depth: 0,
      member: 0,
      computeMs: { [params.segment]: output.computeMs },
      hopMs: {},
      bytes,
      offloads: 0,
      failovers,
    })
    if (decision.action === 'exit' || !output.activation) {
      return ok(own(decision.action === 'exit' ? decision.reason : 'last-exit'))
    }
    const hop = await forwardHop(hopDeps(signal), {
      toSegment: params.segment + 1,
      activation: output.activation,
      thresholds: params.thresholds,
      route: params.route,
      budgetMs: params.budgetMs - (now() - receivedAt),
      signal,
    })
    if (signal.aborted) return err(new CohortError('cancelled', 'the hop was cancelled'))
    const answer = hop.answer
    if (!answer)
      return ok(own(hop.timedOut ? 'deadline-exit' : 'degraded', hop.bytes, hop.failovers))
    return ok({
      ...answer,
      depth: answer.depth + 1,
      member: answer.depth === 0 ? hop.member : answer.member,
      computeMs: { ...answer.computeMs, [params.segment]: output.computeMs },
      hopMs: { ...answer.hopMs, [params.segment + 1]: hop.roundTripMs },
      bytes: answer.bytes + hop.bytes,
      offloads: answer.offloads + (hop.local ? 0 : 1),
      failovers: answer.failovers + hop.failovers,
    })
  }

  const hopDeps = (signal: AbortSignal): HopDependencies => ({
    manifest: deps.manifest,
    request: deps.request,
    rttMs: deps.rttMs,
    self: deps.self(),
    serveLocally: (params, tensor, local) => serve(params, tensor, anySignal(signal, local)),
    now,
  })

  return async (request: IncomingRequest) => {
    const params = parseHopParams(request.payload, segments)
    if (typeof params === 'string') throw new CohortError('bad-message', params)
    const [frame] = request.frames
    if (!frame || request.frames.length !== 1)
      throw new CohortError('bad-message', 'a hop carries exactly one activation tensor')
    // The reply must leave before the requester's RPC deadline, whatever the budget says.
    const budgetMs = Math.min(params.budgetMs, request.deadlineMs - DEFAULT_RTT_MS)
    const answer = await serve({ ...params, budgetMs }, frame, request.signal)
    if (!answer.ok) throw answer.error
    return {
      frames: [
        {
          name: HOP_LOGITS,
          dtype: 'float32',
          dims: [1, answer.value.logits.length],
          data: answer.value.logits,
        },
      ],
      payload: hopAnswerPayload(answer.value),
    }
  }
}

/**
 * The segment's input from a hop's tensor: the dequantized uint8 activation, or for segment 1
 * (cloud-only) the raw float32 input. A string says what is wrong.
 */
function hopInput(manifest: Manifest, params: HopParams, frame: Tensor): Float32Array | string {
  const first = params.segment === 1
  const incoming = manifest.earlyExit.activations[params.segment - 2]
  const name = first ? manifest.input.name : incoming?.name
  const want = first
    ? manifest.input.shape.map((dim) => (dim === 'batch' ? 1 : dim))
    : [1, ...(incoming?.shape ?? [])]
  const dtype = first ? 'float32' : 'uint8'
  const fits =
    frame.dtype === dtype &&
    frame.name === name &&
    frame.dims.length === want.length &&
    want.every((dim, axis) => frame.dims[axis] === dim)
  if (!fits) return `takes a ${dtype} ${name ?? 'activation'} of shape ${JSON.stringify(want)}`
  if (frame.dtype === 'float32') return frame.data
  if (frame.dtype !== 'uint8') return 'takes a uint8 activation'
  return dequantizeActivation({
    q: frame.data,
    min: Float32Array.of(params.min),
    scale: Float32Array.of(params.scale),
    sampleSize: frame.data.length,
  })
}

/** A signal aborted when either is. */
function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  return AbortSignal.any([a, b])
}

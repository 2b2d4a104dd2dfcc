import type { Mesh } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  EARLY_EXIT_HOP_METHOD,
  err,
  type HopParams,
  type Manifest,
  ok,
  type Result,
} from '@cohort/protocol'
import { costModelFromManifest, requestCost } from './early-exit-cost.ts'
import { decodeHopAnswer, HOP_LOGITS } from './early-exit-rules.ts'
import { argmax } from './ensemble-requester.ts'

/** Thresholds no max softmax reaches: every segment runs. */
const NEVER = 2

/** A cloud-only answer: the whole backbone on one remote device. */
export interface CloudOnlyAnswer {
  readonly prediction: number
  readonly latencyMs: number
  /** Compute ms of each segment on the device, by 1-based index. */
  readonly computeMs: Readonly<Record<number, number>>
  /** Payload bytes: the float32 input out, the logits back. */
  readonly bytes: number
  readonly cost: number
}

/**
 * The cloud-only baseline the cost reduction is measured against: the requester sends the raw
 * input to one device, which runs every segment itself (its route names only itself, so the later
 * segments run locally) and answers from the last exit.
 */
export async function inferCloudOnly(
  request: Mesh['request'],
  manifest: Manifest,
  deviceId: DeviceId,
  input: Float32Array,
  deadlineMs: number,
): Promise<Result<CloudOnlyAnswer, CohortError>> {
  const startedAt = performance.now()
  const segments = manifest.earlyExit.segments.length
  const dims = manifest.input.shape.map((dim) => (dim === 'batch' ? 1 : dim))
  const reply = await request(
    deviceId,
    EARLY_EXIT_HOP_METHOD,
    [{ name: manifest.input.name, dtype: 'float32', dims, data: input }],
    {
      deadlineMs,
      payload: {
        segment: 1,
        min: 0,
        scale: 1,
        thresholds: Array.from({ length: segments - 1 }, () => NEVER),
        budgetMs: deadlineMs,
        route: Array.from({ length: segments - 1 }, () => ({ members: [deviceId], memberMs: [0] })),
      } satisfies HopParams,
    },
  )
  if (!reply.ok) return reply
  const frame = reply.value.frames.find((candidate) => candidate.name === HOP_LOGITS)
  const answer = decodeHopAnswer(
    frame?.dtype === 'float32' ? frame.data : undefined,
    reply.value.payload,
    1,
    segments,
    manifest.classes.length,
  )
  if (typeof answer === 'string') return err(new CohortError('bad-message', answer))
  if (answer.exitIndex !== segments - 1)
    return err(
      new CohortError('handler-failed', `the cloud answered from exit ${answer.exitIndex}`),
    )
  return ok({
    prediction: argmax(answer.logits),
    latencyMs: performance.now() - startedAt,
    computeMs: answer.computeMs,
    bytes: input.byteLength + answer.logits.byteLength,
    cost: requestCost(costModelFromManifest(manifest), segments, 1),
  })
}

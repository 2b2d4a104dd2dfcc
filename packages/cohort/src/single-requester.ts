import type { Mesh } from '@cohort/mesh'
import {
  CohortError,
  type DeviceId,
  err,
  findModel,
  type Manifest,
  ok,
  type Result,
  RUN_MODEL_METHOD,
  type RunModelParams,
} from '@cohort/protocol'
import { argmax } from './ensemble-requester.ts'

/** A whole model's answer from one device: the baseline every benchmark compares against. */
export interface SingleAnswer {
  readonly prediction: number
  readonly deviceId: DeviceId
  readonly latencyMs: number
  readonly computeMs: number
}

/** Which device runs which model of a single-model request, and by when. */
export interface SingleRequestOptions {
  readonly deviceId: DeviceId
  readonly modelId: string
  readonly deadlineMs: number
  readonly signal?: AbortSignal
}

/** Runs one whole model (usually the teacher) on one device. Exactly one outcome, no redundancy. */
export async function inferSingle(
  request: Mesh['request'],
  manifest: Manifest,
  input: Float32Array,
  { deviceId, modelId, deadlineMs, signal }: SingleRequestOptions,
): Promise<Result<SingleAnswer, CohortError>> {
  const entry = findModel(manifest, modelId)
  const logitsName =
    entry?.outputs.find((output) => output.name === 'logits')?.name ?? entry?.outputs[0]?.name
  if (!entry || !logitsName)
    return err(new CohortError('bad-message', `${modelId} is not a model of ${manifest.task}`))
  const dims = manifest.input.shape.map((dim) => (dim === 'batch' ? 1 : dim))
  const startedAt = performance.now()
  const outcome = await request(
    deviceId,
    RUN_MODEL_METHOD,
    [{ name: manifest.input.name, dtype: 'float32', dims, data: input }],
    {
      deadlineMs,
      ...(signal ? { signal } : {}),
      payload: { model: modelId } satisfies RunModelParams,
    },
  )
  if (!outcome.ok) return outcome
  const logits = outcome.value.frames.find((frame) => frame.name === logitsName)
  if (logits?.dtype !== 'float32')
    return err(new CohortError('bad-frame', `${deviceId} sent no ${logitsName}`))
  return ok({
    prediction: argmax(logits.data),
    deviceId,
    latencyMs: performance.now() - startedAt,
    computeMs: outcome.value.timings.computeMs ?? Number.NaN,
  })
}

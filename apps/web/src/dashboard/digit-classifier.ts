import { findModel } from '@cohort/protocol'
import type { RuntimePageHandle } from '../device-runtime.ts'
import type { HostSession } from '../host-session.ts'
import { sliceContributions } from './contributions.ts'
import { FIELD } from './mnist-preprocess.ts'

/** One group's part in a drawn digit's answer. */
export interface GroupContribution {
  readonly slice: number
  /** The device whose slice was used; null when the slice was imputed (the group did not answer). */
  readonly deviceId: string | null
  readonly imputed: boolean
  /** Per class: how much this group's slice moved the score (see CONTRIBUTION_EXPLANATION). */
  readonly scores: number[]
}

/** A drawn digit's answer from the room (plain data, so tests can read it through page.evaluate). */
export interface DigitAnswer {
  /** The 28×28 grayscale field that was sent (0–255, row-major). */
  readonly pixels: number[]
  readonly prediction: number | null
  readonly logits: number[]
  /** Scores with every slice imputed: the head knowing nothing of the input. */
  readonly baseline: number[]
  readonly groups: GroupContribution[]
  readonly degraded: boolean
  readonly k: number | null
  readonly latencyMs: number | null
  readonly error: string | null
}

/** How long a drawn digit waits for the room. */
const DEADLINE_MS = 5_000

/**
 * Sends a drawn digit (a 28×28 MNIST field) through the room as one ensemble request (every
 * member of every group), then splits the answer's scores into per-group contributions by
 * re-running the combiner locally with each slice replaced by its training mean.
 */
export async function classifyDigit(
  session: HostSession,
  runtime: RuntimePageHandle,
  pixels: ArrayLike<number>,
): Promise<DigitAnswer> {
  const field = Array.from(pixels, (value) => Math.max(0, Math.min(255, Math.round(value))))
  const failed = (error: string): DigitAnswer => ({
    pixels: field,
    prediction: null,
    logits: [],
    baseline: [],
    groups: [],
    degraded: false,
    k: null,
    latencyMs: null,
    error,
  })
  if (field.length !== FIELD * FIELD)
    return failed(`a drawing has ${FIELD * FIELD} pixels, not ${field.length}`)
  await runtime.whenReady()
  const manifest = runtime.manifest()
  if (!manifest) return failed('the task has no manifest')
  const input = Float32Array.from(field, (value) => value * manifest.input.pixelScale)
  const answer = await session.infer(input, { redundancy: 'all', deadlineMs: DEADLINE_MS })
  if (!answer.ok) return failed(`${answer.error.code}: ${answer.error.message}`)
  const value = answer.value
  if (value.mode !== 'ensemble') return failed(`an ensemble request was answered by ${value.mode}`)
  const set = manifest.ensembles.find((candidate) => candidate.k === value.k)
  const combiner = set ? findModel(manifest, set.combiner) : undefined
  if (!set || !combiner) return failed(`task ${manifest.task} ships no K=${value.k}`)
  const outputName = combiner.outputs[0]?.name ?? 'logits'
  const split = await sliceContributions(
    async (slices) => {
      const inputs = Object.fromEntries(
        combiner.inputs.map((spec, i) => {
          const data = slices[i] ?? new Float32Array()
          return [spec.name, { data, dims: [1, data.length] }]
        }),
      )
      const result = await runtime.client.run(combiner.id, inputs)
      const logits = result.outputs[outputName]?.data
      if (!logits) throw new Error(`${combiner.id} returned no ${outputName}`)
      return logits
    },
    value.slices,
    set.imputationMeans.map((mean) => Float32Array.from(mean)),
  )
  return {
    pixels: field,
    prediction: value.prediction,
    logits: Array.from(value.logits),
    baseline: split.baseline,
    groups: split.perSlice.map((scores, slice) => ({
      slice,
      deviceId: value.winners.find((winner) => winner.slice === slice)?.deviceId ?? null,
      imputed: value.missingSlices.includes(slice),
      scores,
    })),
    degraded: value.degraded,
    k: value.k,
    latencyMs: value.latencyMs,
    error: null,
  }
}

import {
  CohortError,
  findModel,
  type Manifest,
  type QuantizedActivation,
  quantizeActivation,
  type Tensor,
} from '@cohort/protocol'
import type { ModelRunner } from './model-runner.ts'

/** What running one segment gives. */
export interface SegmentOutput {
  readonly logits: Float32Array
  /** The activation for the next segment; null after the last segment. */
  readonly activation: Float32Array | null
  readonly computeMs: number
}

/** The manifest's facts about segment `index` (1-based) of the early-exit chain. */
export function segmentFacts(manifest: Manifest, index: number) {
  const ee = manifest.earlyExit
  const id = ee.segments[index - 1]
  const entry = id === undefined ? undefined : findModel(manifest, id)
  if (!entry || id === undefined)
    throw new CohortError('internal', `task ${manifest.task} has no early-exit segment ${index}`)
  const incoming = index === 1 ? undefined : ee.activations[index - 2]
  const outgoing = ee.activations[index - 1]
  const logitsName =
    entry.outputs.find((spec) => spec.name !== outgoing?.name)?.name ?? entry.outputs[0]?.name
  const inputName = entry.inputs[0]?.name
  if (!inputName || !logitsName)
    throw new CohortError('internal', `${id} has no input or no logits output`)
  return { id, entry, incoming, outgoing, inputName, logitsName }
}

/** Runs segment `index` (1-based) on one sample; `input` is the image or the previous activation. */
export async function runSegment(
  runner: ModelRunner,
  manifest: Manifest,
  index: number,
  input: Float32Array,
  signal?: AbortSignal,
): Promise<SegmentOutput> {
  const facts = segmentFacts(manifest, index)
  const dims =
    index === 1
      ? manifest.input.shape.map((dim) => (dim === 'batch' ? 1 : dim))
      : [1, ...(facts.incoming?.shape ?? [input.length])]
  const result = await runner.run(
    facts.id,
    { [facts.inputName]: { data: input, dims } },
    signal ? { signal } : undefined,
  )
  const logits = result.outputs[facts.logitsName]?.data
  if (!logits) throw new CohortError('internal', `${facts.id} returned no ${facts.logitsName}`)
  const activation = facts.outgoing ? (result.outputs[facts.outgoing.name]?.data ?? null) : null
  if (facts.outgoing && !activation)
    throw new CohortError('internal', `${facts.id} returned no ${facts.outgoing.name}`)
  return { logits, activation, computeMs: result.timings.runMs }
}

/** A quantized activation as the uint8 tensor a hop carries (its min and scale go as params). */
export function activationTensor(
  manifest: Manifest,
  toSegment: number,
  quantized: QuantizedActivation,
): Tensor {
  const spec = manifest.earlyExit.activations[toSegment - 2]
  if (!spec) throw new CohortError('internal', `no activation feeds segment ${toSegment}`)
  return { name: spec.name, dtype: 'uint8', dims: [1, ...spec.shape], data: quantized.q }
}

/** Quantizes one sample's activation exactly as the manifest says (uint8, per-sample min/scale). */
export function quantizeOne(activation: Float32Array): {
  readonly quantized: QuantizedActivation
  readonly min: number
  readonly scale: number
} {
  const quantized = quantizeActivation(activation, 1)
  return { quantized, min: quantized.min[0] ?? 0, scale: quantized.scale[0] ?? 1 }
}

import {
  type Manifest,
  type ModelEntry,
  parseReference,
  parseSampleSet,
  type ReferenceTensor,
  sampleInput,
} from '@cohort/protocol'
import type { TensorData, TensorMap } from './api.ts'

/**
 * The shipped reference data (the first samples of a task and PyTorch's outputs for them) turned
 * into per-model inputs and expected outputs, so any RuntimeApi can be checked against PyTorch:
 * in Node tests, and in the browser's worker from the device page.
 */

/** One model's reference inputs (all reference samples as one batch) and expected outputs. */
export interface ReferenceCase {
  readonly modelId: string
  readonly inputs: TensorMap
  readonly expected: TensorMap
}

/** How one model's outputs compare with PyTorch's. */
export interface ReferenceOutcome {
  readonly modelId: string
  readonly maxAbsDiff: number
  /** Fraction of samples whose argmax agrees, over 'logits' outputs (1 when the model has none). */
  readonly argmaxAgreement: number
}

/** Builds every model's reference case from the sample and reference files' bytes. */
export function referenceCases(
  manifest: Manifest,
  sampleBytes: Uint8Array,
  referenceBytes: Uint8Array,
): ReferenceCase[] {
  const sample = parseSampleSet(sampleBytes)
  if (!sample.ok) throw new Error(`sample file: ${sample.error}`)
  const refs = parseReference(referenceBytes, manifest.data.reference.entries)
  if (!refs.ok) throw new Error(`reference file: ${refs.error}`)
  const n = manifest.data.reference.count
  const images = sampleInput(sample.value, 0, n, manifest.input.pixelScale)
  return manifest.models.map((m) => ({
    modelId: m.id,
    inputs: Object.fromEntries(
      m.inputs.map((spec) => [
        spec.name,
        tensor(referenceInput(manifest, m, spec.name, images, refs.value), spec.shape, n),
      ]),
    ),
    expected: Object.fromEntries(
      m.outputs.map((spec) => [
        spec.name,
        tensor(floatRef(refs.value, `${m.id}/${spec.name}`), spec.shape, n),
      ]),
    ),
  }))
}

/** Where a model input comes from: the images, a student's slice (combiners) or a dequantized activation (segments). */
function referenceInput(
  manifest: Manifest,
  model: ModelEntry,
  input: string,
  images: Float32Array,
  refs: Map<string, ReferenceTensor>,
): Float32Array {
  if (input === manifest.input.name) return images
  if (model.role.kind === 'combiner') {
    const k = model.role.of
    const slice = Number(input.replace('slice_', ''))
    return floatRef(refs, `student-${k}-${slice}/slice`)
  }
  const activation = manifest.earlyExit.activations.find((a) => a.to === model.id)
  if (!activation) throw new Error(`no reference input ${input} for ${model.id}`)
  return floatRef(refs, `${activation.from}/${activation.name}/dequantized`)
}

function floatRef(refs: Map<string, ReferenceTensor>, id: string): Float32Array {
  const t = refs.get(id)
  if (t?.dtype !== 'float32') throw new Error(`the reference file has no float32 tensor ${id}`)
  return t.data
}

function tensor(
  data: Float32Array,
  shape: readonly (number | 'batch')[],
  batch: number,
): TensorData {
  return { data, dims: shape.map((d) => (d === 'batch' ? batch : d)) }
}

/** Compares outputs with a case's expectations. */
export function compareWithReference(c: ReferenceCase, outputs: TensorMap): ReferenceOutcome {
  let maxAbsDiff = 0
  let agree = 0
  let rows = 0
  for (const [name, want] of Object.entries(c.expected)) {
    const got = outputs[name]
    if (!got || got.data.length !== want.data.length)
      return { modelId: c.modelId, maxAbsDiff: Number.POSITIVE_INFINITY, argmaxAgreement: 0 }
    for (let i = 0; i < want.data.length; i++) {
      maxAbsDiff = Math.max(
        maxAbsDiff,
        Math.abs((got.data[i] as number) - (want.data[i] as number)),
      )
    }
    if (name === 'logits') {
      const cols = want.dims.at(-1) ?? 1
      for (let r = 0; r < want.data.length / cols; r++) {
        rows++
        if (argmax(got.data, r, cols) === argmax(want.data, r, cols)) agree++
      }
    }
  }
  return { modelId: c.modelId, maxAbsDiff, argmaxAgreement: rows === 0 ? 1 : agree / rows }
}

function argmax(data: Float32Array, row: number, cols: number): number {
  let best = 0
  for (let c = 1; c < cols; c++)
    if ((data[row * cols + c] as number) > (data[row * cols + best] as number)) best = c
  return best
}

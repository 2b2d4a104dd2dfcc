import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  findModel,
  type Manifest,
  parseManifest,
  parseSampleSet,
  sampleInput,
} from '@cohort/protocol'
import { configureEngine, createSession } from '@cohort/runtime'

const PUBLIC = fileURLToPath(new URL('../public/', import.meta.url))

/** A task's shipped manifest, validated. */
export function loadManifest(task: string): Manifest {
  const parsed = parseManifest(
    JSON.parse(readFileSync(`${PUBLIC}models/${task}/manifest.json`, 'utf8')),
  )
  if (!parsed.ok) throw new Error(`${task} manifest: ${parsed.error}`)
  return parsed.value
}

/** The labels of the first `count` shipped test samples. */
export function sampleLabels(manifest: Manifest, count: number): number[] {
  const set = parseSampleSet(new Uint8Array(readFileSync(PUBLIC + manifest.data.sample.file)))
  if (!set.ok) throw new Error(set.error)
  return [...set.value.labels.subarray(0, count)]
}

/** The first `count` shipped test samples as model inputs (one array of floats per sample). */
export function sampleInputs(manifest: Manifest, count: number): number[][] {
  const set = parseSampleSet(new Uint8Array(readFileSync(PUBLIC + manifest.data.sample.file)))
  if (!set.ok) throw new Error(set.error)
  return Array.from({ length: count }, (_, index) =>
    Array.from(sampleInput(set.value, index, 1, manifest.input.pixelScale)),
  )
}

/**
 * The offline reference of a K-student ensemble, computed here in Node with onnxruntime-web:
 * every student on the first `count` samples, slices concatenated by the combiner, argmax.
 * With `missing`, those slices are imputed with their training means, as a requester does.
 */
export async function ensembleReference(
  manifest: Manifest,
  k: number,
  count: number,
  missing: readonly number[] = [],
): Promise<number[]> {
  const set = manifest.ensembles.find((candidate) => candidate.k === k)
  if (!set) throw new Error(`no K=${k} in ${manifest.task}`)
  configureEngine({ numThreads: 1 })
  const samples = parseSampleSet(new Uint8Array(readFileSync(PUBLIC + manifest.data.sample.file)))
  if (!samples.ok) throw new Error(samples.error)
  const input = sampleInput(samples.value, 0, count, manifest.input.pixelScale)
  const dims = [count, ...manifest.input.shape.slice(1).map(Number)]
  const open = async (id: string) => {
    const entry = findModel(manifest, id)
    if (!entry) throw new Error(`no model ${id}`)
    return {
      entry,
      session: await createSession(new Uint8Array(readFileSync(PUBLIC + entry.file))),
    }
  }
  const combiner = await open(set.combiner)
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {}
  for (const [slice, id] of set.students.entries()) {
    const size = set.sliceSizes[slice] ?? 0
    const name = combiner.entry.inputs[slice]?.name ?? `slice_${slice}`
    if (missing.includes(slice)) {
      const data = new Float32Array(count * size)
      for (let row = 0; row < count; row++) data.set(set.imputationMeans[slice] ?? [], row * size)
      feeds[name] = { data, dims: [count, size] }
      continue
    }
    const student = await open(id)
    const outputs = await student.session.run({ [manifest.input.name]: { data: input, dims } })
    const slice_ = outputs[student.entry.outputs[0]?.name ?? 'slice']
    if (!slice_) throw new Error(`${id} returned no slice`)
    feeds[name] = { data: slice_.data, dims: [count, size] }
    await student.session.release()
  }
  const logits = (await combiner.session.run(feeds))[combiner.entry.outputs[0]?.name ?? 'logits']
  await combiner.session.release()
  if (!logits) throw new Error('the combiner returned no logits')
  const classes = logits.data.length / count
  return Array.from({ length: count }, (_, row) => {
    let best = 0
    for (let c = 1; c < classes; c++)
      if ((logits.data[row * classes + c] ?? 0) > (logits.data[row * classes + best] ?? 0)) best = c
    return best
  })
}

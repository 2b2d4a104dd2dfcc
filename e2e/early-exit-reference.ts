import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  dequantizeActivation,
  findModel,
  type Manifest,
  parseSampleSet,
  quantizeActivation,
  sampleInput,
} from '@cohort/protocol'
import { configureEngine, createSession } from '@cohort/runtime'

const PUBLIC = fileURLToPath(new URL('../public/', import.meta.url))

/** Every exit's confidence and prediction on the first samples, computed offline. */
export interface ExitTable {
  readonly labels: number[]
  /** [exit][sample] */
  readonly confidences: number[][]
  readonly predictions: number[][]
}

/** What a run at some thresholds should give, sample by sample and in sum. */
export interface EarlyExitExpectation {
  readonly exits: number[]
  readonly predictions: number[]
  readonly accuracy: number
  readonly costReduction: number
  readonly exitCounts: number[]
}

/** max softmax in float64, as the manifest's `confidence` says. */
function confidence(logits: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY
  for (const z of logits) max = Math.max(max, z)
  let sum = 0
  for (const z of logits) sum += Math.exp(z - max)
  return 1 / sum
}

function argmax(values: Float32Array): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if ((values[i] ?? 0) > (values[best] ?? 0)) best = i
  return best
}

/**
 * The offline reference of the early-exit chain, in Node with onnxruntime-web: every segment on
 * each of the first `count` samples one at a time (batch 1, as a request travels), with the
 * manifest's uint8 quantize → dequantize step between segments.
 */
export async function exitTable(manifest: Manifest, count: number): Promise<ExitTable> {
  configureEngine({ numThreads: 1 })
  const set = parseSampleSet(new Uint8Array(readFileSync(PUBLIC + manifest.data.sample.file)))
  if (!set.ok) throw new Error(set.error)
  const ee = manifest.earlyExit
  const sessions = await Promise.all(
    ee.segments.map(async (id) => {
      const entry = findModel(manifest, id)
      if (!entry) throw new Error(`no model ${id}`)
      return {
        entry,
        session: await createSession(new Uint8Array(readFileSync(PUBLIC + entry.file))),
      }
    }),
  )
  const confidences = ee.segments.map(() => [] as number[])
  const predictions = ee.segments.map(() => [] as number[])
  for (let i = 0; i < count; i++) {
    let input = sampleInput(set.value, i, 1, manifest.input.pixelScale)
    for (const [index, { entry, session }] of sessions.entries()) {
      const next = ee.activations[index]
      const dims =
        index === 0
          ? [1, ...manifest.input.shape.slice(1).map(Number)]
          : [1, ...(ee.activations[index - 1]?.shape ?? [])]
      const outputs = await session.run({
        [entry.inputs[0]?.name ?? 'input']: { data: input, dims },
      })
      const logitsName = entry.outputs.find((spec) => spec.name !== next?.name)?.name ?? 'logits'
      const logits = outputs[logitsName]?.data
      if (!logits) throw new Error(`${entry.id} returned no ${logitsName}`)
      confidences[index]?.push(confidence(logits))
      predictions[index]?.push(argmax(logits))
      if (!next) break
      const activation = outputs[next.name]?.data
      if (!activation) throw new Error(`${entry.id} returned no ${next.name}`)
      input = dequantizeActivation(quantizeActivation(activation, 1))
    }
  }
  for (const { session } of sessions) await session.release()
  return { labels: [...set.value.labels.subarray(0, count)], confidences, predictions }
}

/** What the room should answer at `thresholds` (no deadline pressure, no failures). */
export function expectAt(
  manifest: Manifest,
  table: ExitTable,
  thresholds: readonly number[],
  count = table.labels.length,
): EarlyExitExpectation {
  const { cost } = manifest.earlyExit
  const exits: number[] = []
  const predictions: number[] = []
  const exitCounts = manifest.earlyExit.segments.map(() => 0)
  let correct = 0
  let total = 0
  for (let i = 0; i < count; i++) {
    let exit = thresholds.findIndex((alpha, e) => (table.confidences[e]?.[i] ?? 0) >= alpha)
    if (exit < 0) exit = thresholds.length
    const prediction = table.predictions[exit]?.[i] ?? -1
    exits.push(exit)
    predictions.push(prediction)
    exitCounts[exit] = (exitCounts[exit] ?? 0) + 1
    if (prediction === table.labels[i]) correct++
    let macs = 0
    for (let s = 0; s <= exit; s++) macs += cost.segmentMacs[s] ?? 0
    total += (cost.lambdaPerMMac * macs) / 1e6 + cost.offload * exit
  }
  return {
    exits,
    predictions,
    accuracy: (100 * correct) / count,
    costReduction: 1 - total / count / cost.cloudOnly,
    exitCounts,
  }
}

/**
 * Thresholds that send about `shares` of the first `count` samples to each exit, placed halfway
 * between two neighbouring confidences so no sample sits on a threshold.
 */
export function thresholdsForShares(table: ExitTable, shares: readonly number[], count: number) {
  const thresholds: number[] = []
  let remaining = Array.from({ length: count }, (_, i) => i)
  for (const [exit, share] of shares.entries()) {
    const values = remaining.map((i) => table.confidences[exit]?.[i] ?? 0).sort((a, b) => b - a)
    const take = Math.min(values.length - 1, Math.max(0, Math.round(share * count)))
    const alpha = take <= 0 ? 1.5 : ((values[take - 1] ?? 1) + (values[take] ?? 0)) / 2
    thresholds.push(alpha)
    remaining = remaining.filter((i) => (table.confidences[exit]?.[i] ?? 0) < alpha)
  }
  return thresholds
}

import { dequantizeActivation, type Manifest, type SampleSet, sampleInput } from '@cohort/protocol'
import { type CostModel, requestCost } from './early-exit-cost.ts'
import { exitConfidence } from './early-exit-rules.ts'
import { quantizeOne, runSegment } from './early-exit-segment.ts'
import { argmax } from './ensemble-requester.ts'
import type { ModelRunner } from './model-runner.ts'

/**
 * What every exit says about every sample of a labelled set (with the quantized transfer between
 * segments): enough to predict a run's accuracy, exit shares and cost for any thresholds without
 * running it again. The manifest carries the calibrated figures for its own thresholds only; for
 * an override the dashboard measures this on the shipped sample once and predicts from it.
 */
export interface ExitProfile {
  readonly labels: Uint8Array
  /** Per exit, per sample: max softmax. */
  readonly confidences: readonly Float64Array[]
  /** Per exit, per sample: argmax. */
  readonly predictions: readonly Uint8Array[]
}

/** Predicted figures of a run at some thresholds. */
export interface ThresholdPrediction {
  readonly accuracy: number
  readonly exitFractions: readonly number[]
  readonly expectedCost: number
  readonly costReduction: number
}

/** The exit a sample takes: the first whose confidence reaches its threshold, else the last. */
export function exitFor(confidences: ArrayLike<number>, thresholds: readonly number[]): number {
  for (let exit = 0; exit < thresholds.length; exit++) {
    if ((confidences[exit] ?? 0) >= (thresholds[exit] ?? Number.POSITIVE_INFINITY)) return exit
  }
  return thresholds.length
}

/** Predicts accuracy, exit shares and cost of `thresholds` on the profiled samples. */
export function predictThresholds(
  profile: ExitProfile,
  thresholds: readonly number[],
  cost: CostModel,
): ThresholdPrediction {
  const exits = profile.confidences.length
  const n = profile.labels.length
  const counts = new Array<number>(exits).fill(0)
  let correct = 0
  let total = 0
  const perSample = new Array<number>(exits)
  for (let i = 0; i < n; i++) {
    for (let e = 0; e < exits; e++) perSample[e] = profile.confidences[e]?.[i] ?? 0
    const exit = exitFor(perSample, thresholds)
    counts[exit] = (counts[exit] ?? 0) + 1
    if (profile.predictions[exit]?.[i] === profile.labels[i]) correct++
    total += requestCost(cost, exit + 1, exit)
  }
  const expectedCost = n === 0 ? 0 : total / n
  return {
    accuracy: n === 0 ? 0 : (100 * correct) / n,
    exitFractions: counts.map((count) => (n === 0 ? 0 : count / n)),
    expectedCost,
    costReduction: 1 - expectedCost / cost.cloudOnly,
  }
}

/**
 * Runs every segment on the first `count` samples, one at a time with the quantized transfer (as a
 * request travels), and records every exit's confidence and prediction.
 */
export async function measureExitProfile(
  runner: ModelRunner,
  manifest: Manifest,
  set: SampleSet,
  count: number,
): Promise<ExitProfile> {
  const n = Math.min(count, set.count)
  const segments = manifest.earlyExit.segments.length
  const confidences = Array.from({ length: segments }, () => new Float64Array(n))
  const predictions = Array.from({ length: segments }, () => new Uint8Array(n))
  for (let i = 0; i < n; i++) {
    let input = sampleInput(set, i, 1, manifest.input.pixelScale)
    for (let segment = 1; segment <= segments; segment++) {
      const output = await runSegment(runner, manifest, segment, input)
      ;(confidences[segment - 1] as Float64Array)[i] = exitConfidence(output.logits)
      ;(predictions[segment - 1] as Uint8Array)[i] = argmax(output.logits)
      if (!output.activation) break
      input = dequantizeActivation(quantizeOne(output.activation).quantized)
    }
  }
  return { labels: set.labels.slice(0, n), confidences, predictions }
}

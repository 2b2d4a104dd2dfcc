import { findModel, type Manifest } from '@cohort/protocol'
import type { StudentSetSpec } from './ensemble-planner.ts'
import type { ModelSpec } from './latency-model.ts'
import type { TaskModelIds } from './model-assignment.ts'
import type { SegmentChainSpec } from './tier-planner.ts'

const FLOAT_BYTES = 4

/** Bytes of one input sample (batch 1) of the task. */
export function inputBytes(manifest: Manifest): number {
  return manifest.input.shape.reduce<number>(
    (bytes, dim) => bytes * (dim === 'batch' ? 1 : dim),
    FLOAT_BYTES,
  )
}

/** The task's K-student sets as the planner sees them: MACs, bytes on the wire, test accuracy. */
export function studentSetsFromManifest(manifest: Manifest): StudentSetSpec[] {
  const input = inputBytes(manifest)
  const spec = (id: string, inBytes: number, outBytes: number): ModelSpec => ({
    id,
    macs: findModel(manifest, id)?.macs ?? 0,
    inputBytes: inBytes,
    outputBytes: outBytes,
  })
  return manifest.ensembles.map((ensemble) => ({
    k: ensemble.k,
    students: ensemble.students.map((id, slice) =>
      spec(id, input, (ensemble.sliceSizes[slice] ?? 0) * FLOAT_BYTES),
    ),
    combiner: spec(ensemble.combiner, 0, 0),
    accuracy: ensemble.accuracy.test,
  }))
}

/**
 * The task's early-exit chain as the planner sees it: segment MACs, the uint8 activation each
 * hop sends (one byte per value plus its min and scale), the logits it answers with, the
 * calibrated thresholds and exit shares (on the shipped sample).
 */
export function segmentChainFromManifest(manifest: Manifest): SegmentChainSpec {
  const ee = manifest.earlyExit
  const logitsBytes = manifest.classes.length * FLOAT_BYTES
  return {
    segments: ee.segments.map((id, index) => {
      const activation = index === 0 ? undefined : ee.activations[index - 1]
      return {
        id,
        macs: findModel(manifest, id)?.macs ?? 0,
        inputBytes: activation
          ? activation.shape.reduce((bytes, dim) => bytes * dim, 1) + 2 * FLOAT_BYTES
          : inputBytes(manifest),
        outputBytes: logitsBytes,
      }
    }),
    thresholds: [...ee.thresholds],
    exitFractions: [...ee.calibrated.exitFractions.sample],
  }
}

/** The task's teacher and student sets by id: what the model assignment names. */
export function taskModelIdsFromManifest(manifest: Manifest): TaskModelIds {
  return {
    teacher: manifest.teacher.model,
    sets: manifest.ensembles.map((ensemble) => ({ k: ensemble.k, students: ensemble.students })),
  }
}

import { describe, expect, test } from 'vitest'
import { findModel, type Manifest, parseManifest } from './manifest.ts'

const SHA = 'a'.repeat(64)
const IMG = ['batch', 1, 28, 28]

function model(id: string, role: object, inputs: object[], outputs: object[], macs = 1000) {
  return {
    id,
    file: `models/t/${id}.onnx`,
    bytes: 100,
    sha256: SHA,
    macs,
    params: 10,
    role,
    inputs,
    outputs,
  }
}
const t = (name: string, shape: unknown[]) => ({ name, dtype: 'float32', shape })
const acc = (v = 90) => ({ test: v, sample: v })
const bySplit = <T>(v: T) => ({ validation: v, test: v, sample: v })

/** A small manifest that satisfies every rule: K = 2 over 4 features, 2 segments. */
function valid(): Record<string, unknown> & Manifest {
  return {
    schemaVersion: 1,
    task: 't',
    classes: ['a', 'b'],
    input: {
      name: 'input',
      dtype: 'float32',
      shape: IMG,
      layout: 'NCHW',
      pixelScale: 1 / 255,
      preprocessing: 'pixel / 255',
      normalization: { mean: 0.2, std: 0.3 },
    },
    dataset: { source: 'x', seed: 1, train: 10, validation: 2, test: 3 },
    models: [
      model('teacher', { kind: 'teacher' }, [t('input', IMG)], [t('logits', ['batch', 2])]),
      model(
        'student-2-0',
        { kind: 'student', index: 0, of: 2 },
        [t('input', IMG)],
        [t('slice', ['batch', 3])],
      ),
      model(
        'student-2-1',
        { kind: 'student', index: 1, of: 2 },
        [t('input', IMG)],
        [t('slice', ['batch', 1])],
      ),
      model(
        'combiner-2',
        { kind: 'combiner', of: 2 },
        [t('slice_0', ['batch', 3]), t('slice_1', ['batch', 1])],
        [t('logits', ['batch', 2])],
      ),
      model(
        'segment-1',
        { kind: 'segment', index: 1, of: 2 },
        [t('input', IMG)],
        [t('h1', ['batch', 4]), t('logits', ['batch', 2])],
        300,
      ),
      model(
        'segment-2',
        { kind: 'segment', index: 2, of: 2 },
        [t('h1', ['batch', 4])],
        [t('logits', ['batch', 2])],
        700,
      ),
    ],
    teacher: { model: 'teacher', featureDim: 4, accuracy: acc(95) },
    ensembles: [
      {
        k: 2,
        students: ['student-2-0', 'student-2-1'],
        combiner: 'combiner-2',
        sliceSizes: [3, 1],
        sliceOffsets: [0, 3],
        imputationMeans: [[0.1, 0.2, 0.3], [0.4]],
        accuracy: acc(94),
        missing: [
          { slice: 0, accuracy: acc(93) },
          { slice: 1, accuracy: acc(93.5) },
        ],
      },
    ],
    earlyExit: {
      segments: ['segment-1', 'segment-2'],
      exits: [
        { segment: 'segment-1', accuracy: acc(80) },
        { segment: 'segment-2', accuracy: acc(95) },
      ],
      confidence: 'max softmax',
      thresholds: [0.9],
      quantization: { scheme: 'uint8-minmax-per-sample', description: 'see README' },
      activations: [{ name: 'h1', from: 'segment-1', to: 'segment-2', shape: [4] }],
      cost: {
        lambdaPerMMac: 1,
        offload: 5,
        segmentMacs: [300, 700],
        cloudOnly: 5.001,
        description: 'c',
      },
      calibration: {
        split: 'validation',
        maxDropPt: 0.3,
        z: 1.645,
        dropUpperBoundPt: 0.29,
        method: 'grid',
      },
      calibrated: {
        accuracy: bySplit(94.9),
        finalExitAccuracy: bySplit(95),
        dropPt: bySplit(0.1),
        expectedCost: bySplit(2),
        costReduction: bySplit(0.6),
        exitFractions: bySplit([0.7, 0.3]),
      },
    },
    data: {
      sample: {
        file: 'data/t-test.bin',
        bytes: 10,
        sha256: SHA,
        count: 1,
        format: 'f',
        selection: 's',
      },
      reference: {
        file: 'data/t-reference.bin',
        bytes: 64,
        sha256: SHA,
        count: 1,
        format: 'f',
        inputs: 'i',
        entries: [
          { id: 'teacher/logits', dtype: 'float32', shape: [1, 2], offset: 16, bytes: 8 },
          { id: 'segment-1/h1/quantized', dtype: 'uint8', shape: [1, 4], offset: 24, bytes: 4 },
        ],
      },
    },
    training: {
      torch: '1.13',
      onnx: '1.12',
      opset: 17,
      python: '3.11',
      secondsPerStage: { teacher: 1 },
    },
  } as unknown as Record<string, unknown> & Manifest
}

/** Applies a mutation to a fresh valid manifest and returns the validator's error (or ''). */
function errorAfter(mutate: (m: Manifest & Record<string, unknown>) => void): string {
  const m = valid()
  mutate(m)
  const r = parseManifest(JSON.parse(JSON.stringify(m)))
  return r.ok ? '' : r.error
}

describe('parseManifest', () => {
  test('accepts a consistent manifest and derives typed access', () => {
    const r = parseManifest(valid())
    expect(r.ok, r.ok ? '' : r.error).toBe(true)
    if (!r.ok) return
    expect(findModel(r.value, 'combiner-2')?.role).toEqual({ kind: 'combiner', of: 2 })
    expect(findModel(r.value, 'nope')).toBeUndefined()
  })

  test('rejects non-objects and unknown fields', () => {
    expect(parseManifest(null).ok).toBe(false)
    expect(parseManifest('manifest').ok).toBe(false)
    expect(errorAfter((m) => Object.assign(m, { extra: 1 }))).toMatch(/extra/)
  })

  test.each([
    [
      'a bad sha256',
      (m: Manifest) => Object.assign(m.models[0] ?? {}, { sha256: 'XYZ' }),
      /sha256/,
    ],
    [
      'a path outside public/',
      (m: Manifest) => Object.assign(m.models[0] ?? {}, { file: '../x.onnx' }),
      /path/,
    ],
    [
      'a duplicate model id',
      (m: Manifest) => Object.assign(m.models[1] ?? {}, { id: 'teacher' }),
      /duplicate model/,
    ],
    [
      'an unknown teacher',
      (m: Manifest) => Object.assign(m.teacher, { model: 'ghost' }),
      /unknown model ghost/,
    ],
    [
      'a student in the wrong place',
      (m: Manifest) => m.ensembles[0]?.students.reverse(),
      /is not student/,
    ],
    [
      'slices not covering the features',
      (m: Manifest) => Object.assign(m.teacher, { featureDim: 5 }),
      /cover 5/,
    ],
    [
      'a mean of the wrong length',
      (m: Manifest) => m.ensembles[0]?.imputationMeans[1]?.push(1),
      /1 values/,
    ],
    [
      'a wrong slice offset',
      (m: Manifest) => Object.assign(m.ensembles[0] ?? {}, { sliceOffsets: [0, 2] }),
      /start at 3/,
    ],
    ['a missing K entry', (m: Manifest) => m.ensembles[0]?.missing.pop(), /missing must have K=2/],
    [
      'a wrong combiner',
      (m: Manifest) => Object.assign(m.ensembles[0] ?? {}, { combiner: 'teacher' }),
      /not the combiner/,
    ],
    [
      'too many thresholds',
      (m: Manifest) => m.earlyExit.thresholds.push(0.5),
      /thresholds must have 1/,
    ],
    [
      'segment MACs that differ from the model',
      (m: Manifest) => m.earlyExit.cost.segmentMacs.reverse(),
      /segmentMacs/,
    ],
    [
      'exit fractions not summing to 1',
      (m: Manifest) => Object.assign(m.earlyExit.calibrated.exitFractions, { test: [0.5, 0.1] }),
      /summing to 1/,
    ],
    [
      'an accuracy above 100',
      (m: Manifest) => Object.assign(m.teacher, { accuracy: { test: 101, sample: 1 } }),
      /100/,
    ],
    [
      'a reference of the wrong size',
      (m: Manifest) => Object.assign(m.data.reference.entries[0] ?? {}, { bytes: 4 }),
      /must have 8 bytes/,
    ],
    [
      'a reference outside the file',
      (m: Manifest) => Object.assign(m.data.reference.entries[1] ?? {}, { offset: 62 }),
      /outside/,
    ],
    [
      'an unknown quantization',
      (m: Manifest) => Object.assign(m.earlyExit.quantization, { scheme: 'int4' }),
      /uint8-minmax/,
    ],
  ])('rejects %s', (_name, mutate, message) => {
    expect(errorAfter(mutate as (m: Manifest) => void)).toMatch(message)
  })
})

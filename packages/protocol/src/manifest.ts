import { z } from 'zod'
import { err, ok, type Result } from './result.ts'

/**
 * The model manifest shipped as public/models/<task>/manifest.json (written by training/).
 * Every `file` is a path relative to the public/ root (served at `/`).
 */

const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256')
const Count = z.number().int().nonnegative()
const Positive = z.number().int().positive()
/** A percentage in [0, 100]. */
const Percent = z.number().min(0).max(100)
const Fraction = z.number().min(0).max(1)
const ModelId = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a kebab-case model id')
const PublicPath = z
  .string()
  .regex(/^(models|data)\/[A-Za-z0-9._/-]+$/, 'a path under public/ (models/… or data/…)')
  .refine((p) => !p.includes('..'), 'no ".." in paths')

/** A dimension: a fixed size or the dynamic batch axis. */
export const DimSchema = z.union([Positive, z.literal('batch')])

/** Element types of model inputs/outputs and reference tensors. */
export const TensorDTypeSchema = z.enum(['float32', 'uint8'])
/** Element type of a model input/output or reference tensor. */
export type TensorDType = z.infer<typeof TensorDTypeSchema>

/** A named model input or output. */
export const TensorSpecSchema = z.strictObject({
  name: z.string().min(1),
  dtype: TensorDTypeSchema,
  shape: z.array(DimSchema).min(1),
})
/** A named model input or output. */
export type TensorSpec = z.infer<typeof TensorSpecSchema>

/** What a model is for. */
export const ModelRoleSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('teacher') }),
  z.strictObject({ kind: z.literal('student'), index: Count, of: Positive }),
  z.strictObject({ kind: z.literal('combiner'), of: Positive }),
  z.strictObject({ kind: z.literal('segment'), index: Positive, of: Positive }),
])
/** What a model is for: teacher, student `index` of K = `of`, combiner of K, segment `index` of `of`. */
export type ModelRole = z.infer<typeof ModelRoleSchema>

/** One ONNX file with everything needed to verify, load and feed it. */
export const ModelEntrySchema = z.strictObject({
  id: ModelId,
  file: PublicPath,
  bytes: Positive,
  sha256: Sha256Schema,
  macs: Positive,
  params: Positive,
  role: ModelRoleSchema,
  inputs: z.array(TensorSpecSchema).min(1),
  outputs: z.array(TensorSpecSchema).min(1),
})
/** One ONNX file with everything needed to verify, load and feed it. */
export type ModelEntry = z.infer<typeof ModelEntrySchema>

/** Accuracy (%) on the full test split and on the shipped sample. */
export const AccuracySchema = z.strictObject({ test: Percent, sample: Percent })
/** Accuracy (%) on the full test split and on the shipped sample. */
export type Accuracy = z.infer<typeof AccuracySchema>

const BySplit = <T extends z.ZodType>(t: T) => z.strictObject({ validation: t, test: t, sample: t })

/** A K-student set: students, combiner, slices, imputation and measured accuracies. */
export const EnsembleSchema = z.strictObject({
  k: Positive,
  students: z.array(ModelId).min(1),
  combiner: ModelId,
  sliceSizes: z.array(Positive).min(1),
  sliceOffsets: z.array(Count).min(1),
  imputationMeans: z.array(z.array(z.number())).min(1),
  accuracy: AccuracySchema,
  missing: z.array(z.strictObject({ slice: Count, accuracy: AccuracySchema })),
})
/** A K-student set: students, combiner, slices, imputation and measured accuracies. */
export type Ensemble = z.infer<typeof EnsembleSchema>

/** The early-exit backbone: segments, exits, quantized transfer, costs and calibration. */
export const EarlyExitSchema = z.strictObject({
  segments: z.array(ModelId).min(2),
  exits: z.array(z.strictObject({ segment: ModelId, accuracy: AccuracySchema })),
  confidence: z.string(),
  /** alpha_i for every exit but the last: exit when max softmax >= alpha_i. */
  thresholds: z.array(z.number().nonnegative()),
  quantization: z.strictObject({
    scheme: z.literal('uint8-minmax-per-sample'),
    description: z.string(),
  }),
  activations: z.array(
    z.strictObject({
      name: z.string().min(1),
      from: ModelId,
      to: ModelId,
      shape: z.array(Positive).min(1),
    }),
  ),
  cost: z.strictObject({
    lambdaPerMMac: z.number().nonnegative(),
    offload: z.number().nonnegative(),
    segmentMacs: z.array(Positive),
    cloudOnly: z.number().positive(),
    description: z.string(),
  }),
  /** Thresholds minimise expected cost on validation s.t. mean drop + z * standard error <= maxDropPt. */
  calibration: z.strictObject({
    split: z.literal('validation'),
    maxDropPt: z.number().nonnegative(),
    z: z.number().nonnegative(),
    dropUpperBoundPt: z.number(),
    method: z.string(),
  }),
  calibrated: z.strictObject({
    accuracy: BySplit(Percent),
    finalExitAccuracy: BySplit(Percent),
    dropPt: BySplit(z.number()),
    expectedCost: BySplit(z.number().nonnegative()),
    costReduction: BySplit(z.number().max(1)),
    exitFractions: BySplit(z.array(Fraction)),
  }),
})
/** The early-exit backbone: segments, exits, quantized transfer, costs and calibration. */
export type EarlyExit = z.infer<typeof EarlyExitSchema>

/** One tensor inside the reference file. */
export const ReferenceEntrySchema = z.strictObject({
  id: z.string().min(1),
  dtype: TensorDTypeSchema,
  shape: z.array(Positive).min(1),
  offset: Count,
  bytes: Count,
})
/** One tensor inside the reference file. */
export type ReferenceEntry = z.infer<typeof ReferenceEntrySchema>

const DataFileFields = {
  file: PublicPath,
  bytes: Positive,
  sha256: Sha256Schema,
  count: Positive,
  format: z.string(),
}

/** The validated manifest of one task. */
export const ManifestSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    task: z.string().regex(/^[a-z0-9-]+$/),
    classes: z.array(z.string()).min(2),
    input: z.strictObject({
      name: z.string().min(1),
      dtype: z.literal('float32'),
      shape: z.array(DimSchema).min(1),
      layout: z.literal('NCHW'),
      pixelScale: z.number().positive(),
      preprocessing: z.string(),
      normalization: z.strictObject({ mean: z.number(), std: z.number().positive() }),
    }),
    dataset: z.strictObject({
      source: z.string(),
      seed: Count,
      train: Positive,
      validation: Positive,
      test: Positive,
    }),
    models: z.array(ModelEntrySchema).min(1),
    teacher: z.strictObject({ model: ModelId, featureDim: Positive, accuracy: AccuracySchema }),
    ensembles: z.array(EnsembleSchema),
    earlyExit: EarlyExitSchema,
    data: z.strictObject({
      sample: z.strictObject({ ...DataFileFields, selection: z.string() }),
      reference: z.strictObject({
        ...DataFileFields,
        inputs: z.string(),
        entries: z.array(ReferenceEntrySchema),
      }),
    }),
    training: z.strictObject({
      torch: z.string(),
      onnx: z.string(),
      opset: Positive,
      python: z.string(),
      secondsPerStage: z.record(z.string(), z.number().nonnegative()),
    }),
  })
  .superRefine((m, ctx) => {
    for (const issue of crossCheck(m)) ctx.addIssue({ code: 'custom', ...issue })
  })
/** The validated manifest of one task. */
export type Manifest = z.infer<typeof ManifestSchema>

type Issue = { message: string; path: (string | number)[] }

const DTYPE_BYTES: Record<TensorDType, number> = { float32: 4, uint8: 1 }

/** Consistency rules zod's shapes cannot state: references between entries, sizes, sums. */
function crossCheck(m: z.infer<typeof ManifestSchema>): Issue[] {
  const issues: Issue[] = []
  const byId = new Map<string, ModelEntry>()
  m.models.forEach((model, i) => {
    if (byId.has(model.id))
      issues.push({ message: `duplicate model id ${model.id}`, path: ['models', i, 'id'] })
    byId.set(model.id, model)
  })
  const role = (id: string, path: (string | number)[]): ModelRole | undefined => {
    const model = byId.get(id)
    if (!model) issues.push({ message: `unknown model ${id}`, path })
    return model?.role
  }

  if (role(m.teacher.model, ['teacher', 'model'])?.kind !== 'teacher') {
    issues.push({ message: 'teacher.model must name a teacher', path: ['teacher', 'model'] })
  }
  const ks = new Set<number>()
  m.ensembles.forEach((e, ei) => {
    const at = (...p: (string | number)[]) => ['ensembles', ei, ...p]
    if (ks.has(e.k)) issues.push({ message: `duplicate ensemble K=${e.k}`, path: at('k') })
    ks.add(e.k)
    for (const [name, len] of [
      ['students', e.students.length],
      ['sliceSizes', e.sliceSizes.length],
      ['sliceOffsets', e.sliceOffsets.length],
      ['imputationMeans', e.imputationMeans.length],
      ['missing', e.missing.length],
    ] as const) {
      if (len !== e.k)
        issues.push({ message: `${name} must have K=${e.k} entries`, path: at(name) })
    }
    e.students.forEach((id, j) => {
      const r = role(id, at('students', j))
      if (r && !(r.kind === 'student' && r.index === j && r.of === e.k)) {
        issues.push({ message: `${id} is not student ${j} of ${e.k}`, path: at('students', j) })
      }
    })
    const c = role(e.combiner, at('combiner'))
    if (c && !(c.kind === 'combiner' && c.of === e.k)) {
      issues.push({
        message: `${e.combiner} is not the combiner of K=${e.k}`,
        path: at('combiner'),
      })
    }
    let offset = 0
    e.sliceSizes.forEach((size, j) => {
      if (e.sliceOffsets[j] !== offset) {
        issues.push({ message: `slice ${j} must start at ${offset}`, path: at('sliceOffsets', j) })
      }
      if (e.imputationMeans[j]?.length !== size) {
        issues.push({
          message: `imputation mean ${j} must have ${size} values`,
          path: at('imputationMeans', j),
        })
      }
      offset += size
    })
    if (offset !== m.teacher.featureDim) {
      issues.push({
        message: `slices must cover ${m.teacher.featureDim} features`,
        path: at('sliceSizes'),
      })
    }
    e.missing.forEach((miss, j) => {
      if (miss.slice !== j)
        issues.push({ message: `missing[${j}] must describe slice ${j}`, path: at('missing', j) })
    })
  })

  const ee = m.earlyExit
  const n = ee.segments.length
  ee.segments.forEach((id, i) => {
    const r = role(id, ['earlyExit', 'segments', i])
    if (r && !(r.kind === 'segment' && r.index === i + 1 && r.of === n)) {
      issues.push({
        message: `${id} is not segment ${i + 1} of ${n}`,
        path: ['earlyExit', 'segments', i],
      })
    }
    if (ee.exits[i]?.segment !== id) {
      issues.push({ message: `exit ${i} must belong to ${id}`, path: ['earlyExit', 'exits', i] })
    }
    if (ee.cost.segmentMacs[i] !== byId.get(id)?.macs) {
      issues.push({
        message: `segmentMacs[${i}] must equal ${id}'s MACs`,
        path: ['earlyExit', 'cost', 'segmentMacs', i],
      })
    }
  })
  for (const [name, len, want] of [
    ['exits', ee.exits.length, n],
    ['thresholds', ee.thresholds.length, n - 1],
    ['activations', ee.activations.length, n - 1],
    ['cost', ee.cost.segmentMacs.length, n],
  ] as const) {
    if (len !== want)
      issues.push({ message: `${name} must have ${want} entries`, path: ['earlyExit', name] })
  }
  for (const split of ['validation', 'test', 'sample'] as const) {
    const fr = ee.calibrated.exitFractions[split]
    const sum = fr.reduce((a, b) => a + b, 0)
    if (fr.length !== n || Math.abs(sum - 1) > 1e-3) {
      issues.push({
        message: `exit fractions must be ${n} values summing to 1`,
        path: ['earlyExit', 'calibrated', 'exitFractions', split],
      })
    }
  }

  const ref = m.data.reference
  const ids = new Set<string>()
  ref.entries.forEach((e, i) => {
    const at = ['data', 'reference', 'entries', i]
    if (ids.has(e.id)) issues.push({ message: `duplicate reference ${e.id}`, path: at })
    ids.add(e.id)
    const want = e.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype]
    if (e.bytes !== want)
      issues.push({ message: `reference ${e.id} must have ${want} bytes`, path: at })
    if (e.offset % DTYPE_BYTES[e.dtype] !== 0 || e.offset + e.bytes > ref.bytes) {
      issues.push({ message: `reference ${e.id} lies outside the file or is misaligned`, path: at })
    }
  })
  return issues
}

/** Validates a parsed manifest.json; the error says where it failed. */
export function parseManifest(data: unknown): Result<Manifest, string> {
  const parsed = ManifestSchema.safeParse(data)
  return parsed.success ? ok(parsed.data) : err(z.prettifyError(parsed.error))
}

/** The model entry with this id, or undefined. */
export function findModel(manifest: Manifest, id: string): ModelEntry | undefined {
  return manifest.models.find((m) => m.id === id)
}

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  dequantizeActivation,
  findModel,
  type Manifest,
  type ModelEntry,
  parseManifest,
  parseReference,
  parseSampleSet,
  quantizeActivation,
  type ReferenceTensor,
  type SampleSet,
  sampleInput,
} from '@cohort/protocol'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { configureEngine, createSession, type Float32Tensor, type ModelSession } from './engine.ts'

// Loads every shipped model in onnxruntime-web (WASM, one thread) and checks it against its
// manifest: hashes, names, PyTorch reference outputs, quantized transfer bytes, and the accuracies
// the manifest claims on the shipped sample (ensembles with imputation, exits with calibrated thresholds).

const PUBLIC = fileURLToPath(new URL('../../../public/', import.meta.url))
const TASKS = ['fashion', 'digits'] as const
const MAX_ABS_DIFF = 1e-4
const ACCURACY_TOLERANCE_PT = 0.1
const BATCH = 250
const SLOW = 300_000

const readPublic = (path: string): Uint8Array => new Uint8Array(readFileSync(PUBLIC + path))

function loadManifest(task: string): Manifest {
  const raw: unknown = JSON.parse(readFileSync(`${PUBLIC}models/${task}/manifest.json`, 'utf8'))
  const parsed = parseManifest(raw)
  if (!parsed.ok) throw new Error(`${task} manifest: ${parsed.error}`)
  return parsed.value
}

function argmaxRows(data: Float32Array, cols: number): number[] {
  const out: number[] = []
  for (let r = 0; r < data.length / cols; r++) {
    let best = 0
    for (let c = 1; c < cols; c++) {
      if ((data[r * cols + c] as number) > (data[r * cols + best] as number)) best = c
    }
    out.push(best)
  }
  return out
}

/** max softmax in float64 as 1 / sum_j exp(z_j - max z), the manifest's stated confidence. */
function confidences(logits: Float32Array, cols: number): number[] {
  const out: number[] = []
  for (let r = 0; r < logits.length / cols; r++) {
    let max = Number.NEGATIVE_INFINITY
    for (let c = 0; c < cols; c++) max = Math.max(max, logits[r * cols + c] as number)
    let sum = 0
    for (let c = 0; c < cols; c++) sum += Math.exp((logits[r * cols + c] as number) - max)
    out.push(1 / sum)
  }
  return out
}

function accuracyPt(pred: readonly number[], labels: Uint8Array): number {
  let hit = 0
  pred.forEach((p, i) => {
    if (p === labels[i]) hit++
  })
  return (100 * hit) / pred.length
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)))
  return m
}

function floatRef(refs: Map<string, ReferenceTensor>, id: string): Float32Array {
  const t = refs.get(id)
  if (t?.dtype !== 'float32') throw new Error(`no float32 reference ${id}`)
  return t.data
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const sizeOf = (dims: readonly (number | 'batch')[]): number =>
  dims.reduce<number>((a, d) => a * (d === 'batch' ? 1 : d), 1)

describe.each(TASKS)('shipped %s models', (task) => {
  const manifest = loadManifest(task)
  const sessions = new Map<string, ModelSession>()
  let sample: SampleSet
  let refs: Map<string, ReferenceTensor>
  const classes = manifest.classes.length
  const pixelScale = manifest.input.pixelScale

  const session = (id: string): ModelSession => {
    const s = sessions.get(id)
    if (!s) throw new Error(`no session ${id}`)
    return s
  }
  const model = (id: string): ModelEntry => {
    const m = findModel(manifest, id)
    if (!m) throw new Error(`no model ${id}`)
    return m
  }
  /** Runs a model over inputs of `n` rows in batches; returns each output concatenated. */
  const runRows = async (
    id: string,
    n: number,
    inputs: Record<string, Float32Array>,
  ): Promise<Record<string, Float32Array>> => {
    const entry = model(id)
    const parts: Record<string, Float32Array[]> = {}
    for (let start = 0; start < n; start += BATCH) {
      const rows = Math.min(BATCH, n - start)
      const feeds: Record<string, Float32Tensor> = {}
      for (const spec of entry.inputs) {
        const per = sizeOf(spec.shape)
        const data = inputs[spec.name]
        if (!data) throw new Error(`missing input ${spec.name}`)
        const dims = spec.shape.map((d) => (d === 'batch' ? rows : d))
        feeds[spec.name] = { data: data.subarray(start * per, (start + rows) * per), dims }
      }
      const out = await session(id).run(feeds)
      for (const [name, t] of Object.entries(out)) {
        parts[name] = [...(parts[name] ?? []), t.data]
      }
    }
    return Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, concatRows(v)]))
  }
  const pick = (out: Record<string, Float32Array>, name: string): Float32Array => {
    const t = out[name]
    if (!t) throw new Error(`no output ${name}`)
    return t
  }

  beforeAll(async () => {
    configureEngine({ numThreads: 1 })
    const s = parseSampleSet(readPublic(manifest.data.sample.file))
    if (!s.ok) throw new Error(s.error)
    sample = s.value
    const r = parseReference(
      readPublic(manifest.data.reference.file),
      manifest.data.reference.entries,
    )
    if (!r.ok) throw new Error(r.error)
    refs = r.value
    for (const m of manifest.models) sessions.set(m.id, await createSession(readPublic(m.file)))
  }, SLOW)

  afterAll(async () => {
    for (const s of sessions.values()) await s.release()
  })

  test('every file matches its manifest size and sha256', () => {
    const files = [...manifest.models, manifest.data.sample, manifest.data.reference]
    for (const f of files) {
      const bytes = readPublic(f.file)
      expect(bytes.byteLength, f.file).toBe(f.bytes)
      expect(createHash('sha256').update(bytes).digest('hex'), f.file).toBe(f.sha256)
    }
    expect(sample.count).toBe(manifest.data.sample.count)
  })

  test('every session exposes the input and output names of the manifest', () => {
    for (const m of manifest.models) {
      expect([...session(m.id).inputNames], m.id).toEqual(m.inputs.map((i) => i.name))
      expect([...session(m.id).outputNames], m.id).toEqual(m.outputs.map((o) => o.name))
    }
  })

  test(
    'every model reproduces the PyTorch reference outputs',
    async () => {
      const n = manifest.data.reference.count
      const images = sampleInput(sample, 0, n, pixelScale)
      for (const m of manifest.models) {
        const inputs: Record<string, Float32Array> = {}
        for (const spec of m.inputs) {
          if (spec.name === manifest.input.name) inputs[spec.name] = images
          else if (m.role.kind === 'combiner') {
            const j = Number(spec.name.replace('slice_', ''))
            inputs[spec.name] = floatRef(refs, `student-${m.role.of}-${j}/slice`)
          } else {
            const act = manifest.earlyExit.activations.find((a) => a.to === m.id)
            if (!act) throw new Error(`no activation into ${m.id}`)
            inputs[spec.name] = floatRef(refs, `${act.from}/${act.name}/dequantized`)
          }
        }
        const out = await runRows(m.id, n, inputs)
        for (const spec of m.outputs) {
          const want = floatRef(refs, `${m.id}/${spec.name}`)
          const got = pick(out, spec.name)
          expect(maxAbsDiff(got, want), `${m.id}/${spec.name}`).toBeLessThanOrEqual(MAX_ABS_DIFF)
          if (spec.name === 'logits')
            expect(argmaxRows(got, classes)).toEqual(argmaxRows(want, classes))
        }
      }
    },
    SLOW,
  )

  test('batch 1 gives the same logits as a batch', async () => {
    const n = manifest.data.reference.count
    const want = floatRef(refs, 'teacher/logits')
    for (let i = 0; i < n; i++) {
      const out = await runRows('teacher', 1, { input: sampleInput(sample, i, 1, pixelScale) })
      const row = want.subarray(i * classes, (i + 1) * classes)
      expect(maxAbsDiff(pick(out, 'logits'), row)).toBeLessThanOrEqual(MAX_ABS_DIFF)
    }
  })

  test('TypeScript quantization reproduces the Python bytes exactly', () => {
    const n = manifest.data.reference.count
    for (const act of manifest.earlyExit.activations) {
      const base = `${act.from}/${act.name}`
      const q = quantizeActivation(floatRef(refs, base), n)
      const wantQ = refs.get(`${base}/quantized`)
      expect(wantQ?.dtype).toBe('uint8')
      expect(Buffer.from(q.q).equals(Buffer.from(wantQ?.data ?? []))).toBe(true)
      expect([...q.min]).toEqual([...floatRef(refs, `${base}/min`)])
      expect([...q.scale]).toEqual([...floatRef(refs, `${base}/scale`)])
      expect([...dequantizeActivation(q)]).toEqual([...floatRef(refs, `${base}/dequantized`)])
    }
  })

  test(
    'the sample accuracies of the manifest are reproduced within 0.1 pt',
    async () => {
      const n = sample.count
      const images = sampleInput(sample, 0, n, pixelScale)
      const near = (got: number, want: number, what: string) =>
        expect(Math.abs(got - want), `${what}: ${got} vs manifest ${want}`).toBeLessThanOrEqual(
          ACCURACY_TOLERANCE_PT + 1e-9,
        )

      const teacher = pick(await runRows('teacher', n, { input: images }), 'logits')
      near(
        accuracyPt(argmaxRows(teacher, classes), sample.labels),
        manifest.teacher.accuracy.sample,
        'teacher',
      )

      for (const e of manifest.ensembles) {
        const slices: Float32Array[] = []
        for (const id of e.students)
          slices.push(pick(await runRows(id, n, { input: images }), 'slice'))
        const combine = async (parts: Float32Array[]) => {
          const inputs = Object.fromEntries(parts.map((p, j) => [`slice_${j}`, p]))
          const logits = pick(await runRows(e.combiner, n, inputs), 'logits')
          return accuracyPt(argmaxRows(logits, classes), sample.labels)
        }
        near(await combine(slices), e.accuracy.sample, `K=${e.k}`)
        for (const miss of e.missing) {
          const size = e.sliceSizes[miss.slice] as number
          const mean = e.imputationMeans[miss.slice] as number[]
          const imputed = new Float32Array(n * size)
          for (let r = 0; r < n; r++) imputed.set(mean, r * size)
          const parts = slices.map((s, j) => (j === miss.slice ? imputed : s))
          near(await combine(parts), miss.accuracy.sample, `K=${e.k} without slice ${miss.slice}`)
        }
      }

      // early exit: segment by segment with quantized transfer, then the calibrated policy
      const ee = manifest.earlyExit
      const exitLogits: Float32Array[] = []
      let current = images
      for (const [i, id] of ee.segments.entries()) {
        const entry = model(id)
        const inputName = entry.inputs[0]?.name ?? ''
        const out = await runRows(id, n, { [inputName]: current })
        exitLogits.push(pick(out, 'logits'))
        const act = ee.activations[i]
        if (act) current = dequantizeActivation(quantizeActivation(pick(out, act.name), n))
      }
      exitLogits.forEach((z, i) => {
        const want = ee.exits[i]?.accuracy.sample ?? Number.NaN
        near(accuracyPt(argmaxRows(z, classes), sample.labels), want, `exit ${i + 1}`)
      })
      const preds = exitLogits.map((z) => argmaxRows(z, classes))
      const confs = exitLogits.map((z) => confidences(z, classes))
      const chosen: number[] = []
      for (let r = 0; r < n; r++) {
        let at = ee.segments.length - 1
        for (const [i, alpha] of ee.thresholds.entries()) {
          if ((confs[i]?.[r] ?? 0) >= alpha) {
            at = i
            break
          }
        }
        chosen.push(preds[at]?.[r] ?? -1)
      }
      near(
        accuracyPt(chosen, sample.labels),
        ee.calibrated.accuracy.sample,
        'calibrated early exit',
      )
    },
    SLOW,
  )
})

describe('shipped model set', () => {
  const manifests = TASKS.map(loadManifest)

  test('all models together stay within 25 MB', () => {
    const total = manifests.flatMap((m) => m.models).reduce((a, m) => a + m.bytes, 0)
    expect(total).toBeLessThanOrEqual(25 * 1024 * 1024)
  })

  test('every student stays within 1/K of its teacher MACs', () => {
    for (const m of manifests) {
      const teacher = findModel(m, m.teacher.model)?.macs ?? 0
      for (const e of m.ensembles) {
        for (const id of e.students)
          expect(findModel(m, id)?.macs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(
            teacher / e.k,
          )
      }
    }
  })

  test('fashion meets the teacher, missing-slice and cost-reduction targets on its test split', () => {
    const m = loadManifest('fashion')
    expect(m.teacher.accuracy.test).toBeGreaterThanOrEqual(92.5)
    for (const e of m.ensembles) {
      // with K = 1 the only slice is missing: the prediction is a constant, so no target applies
      if (e.k === 1) continue
      for (const miss of e.missing) {
        expect(
          e.accuracy.test - miss.accuracy.test,
          `K=${e.k} slice ${miss.slice}`,
        ).toBeLessThanOrEqual(2.0)
      }
    }
    expect(m.earlyExit.calibrated.costReduction.test).toBeGreaterThanOrEqual(0.4)
  })

  test('fashion: every K-ensemble within 1.0 pt of the teacher', () => {
    const m = loadManifest('fashion')
    for (const e of m.ensembles) {
      expect(m.teacher.accuracy.test - e.accuracy.test, `K=${e.k}`).toBeLessThanOrEqual(1.0)
    }
  })

  test('fashion: calibrated early exit within 0.3 pt of the final exit on test', () => {
    expect(loadManifest('fashion').earlyExit.calibrated.dropPt.test).toBeLessThanOrEqual(0.3)
  })
})

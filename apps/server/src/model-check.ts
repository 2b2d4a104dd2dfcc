import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Manifest, parseManifest } from '@cohort/protocol'
import { compareWithReference, LocalRuntime, referenceCases } from '@cohort/runtime'

/** The largest difference from PyTorch's outputs a model may show (the shipped models' bound). */
export const MAX_ABS_DIFF = 1e-4

/** How one model compares with the PyTorch reference outputs shipped with it. */
export interface ModelCheck {
  readonly id: string
  readonly maxAbsDiff: number
  /** Fraction of reference samples whose argmax agrees (1 for models without logits). */
  readonly argmaxAgreement: number
}

/** What the check found for one task. */
export interface TaskCheck {
  readonly task: string
  /** Everything that keeps Cohort from serving the task, each naming the file and the fault. */
  readonly problems: readonly string[]
  /** Every model that loaded, against the reference outputs. */
  readonly models: readonly ModelCheck[]
}

/**
 * Checks a task as devices will use it: the manifest against its schema, every file it names
 * (present, with the stated size and sha256), every model loaded in
 * onnxruntime-web (WASM) with the stated inputs and outputs, and every model's outputs against
 * the PyTorch reference outputs for the first samples.
 */
export async function checkTask(root: string, task: string): Promise<TaskCheck> {
  const problems: string[] = []
  const done = (models: readonly ModelCheck[] = []): TaskCheck => ({ task, problems, models })
  const manifestFile = join(root, 'models', task, 'manifest.json')
  if (!existsSync(manifestFile)) {
    problems.push(`${manifestFile} is missing`)
    return done()
  }
  let json: unknown
  try {
    json = JSON.parse(readFileSync(manifestFile, 'utf8'))
  } catch (error) {
    problems.push(`${manifestFile}: not readable JSON (${errorMessage(error)})`)
    return done()
  }
  const parsed = parseManifest(json)
  if (!parsed.ok) {
    problems.push(`${manifestFile} does not match the manifest schema:\n${parsed.error}`)
    return done()
  }
  const manifest = parsed.value
  if (manifest.task !== task) {
    problems.push(`${manifestFile} describes task "${manifest.task}", not "${task}" (its folder)`)
  }
  const files = new Map<string, Uint8Array>()
  for (const named of namedFiles(manifest)) {
    const bytes = readNamed(root, named, problems)
    if (bytes) files.set(named.file, bytes)
  }
  if (problems.length > 0) return done()
  return done(await checkModels(manifest, files, problems))
}

interface NamedFile {
  readonly what: string
  readonly file: string
  readonly bytes: number
  readonly sha256: string
}

function namedFiles(manifest: Manifest): NamedFile[] {
  return [
    ...manifest.models.map((model) => ({ what: `model ${model.id}`, ...model })),
    { what: 'the sample file', ...manifest.data.sample },
    { what: 'the reference file', ...manifest.data.reference },
  ]
}

/** The bytes of a file the manifest names (a path under the folder, by the schema), or a problem. */
function readNamed(root: string, named: NamedFile, problems: string[]): Uint8Array | null {
  const path = join(root, named.file)
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(readFileSync(path))
  } catch (error) {
    problems.push(`${named.what}: ${path} cannot be read (${errorMessage(error)})`)
    return null
  }
  if (bytes.byteLength !== named.bytes) {
    problems.push(
      `${named.what}: ${path} has ${bytes.byteLength} bytes, the manifest says ${named.bytes}`,
    )
    return null
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  if (sha256 !== named.sha256) {
    problems.push(`${named.what}: ${path} has sha256 ${sha256}, the manifest says ${named.sha256}`)
    return null
  }
  return bytes
}

async function checkModels(
  manifest: Manifest,
  files: ReadonlyMap<string, Uint8Array>,
  problems: string[],
): Promise<ModelCheck[]> {
  const runtime = new LocalRuntime()
  const bytesOf = (file: string) => files.get(file) ?? new Uint8Array()
  try {
    await runtime.configure({ numThreads: 1 })
    for (const model of manifest.models) {
      try {
        const loaded = await runtime.loadModel(model.id, bytesOf(model.file).slice().buffer, {
          executionProvider: 'wasm',
          inputs: model.inputs,
        })
        const stated = model.outputs.map((output) => output.name).sort()
        if (JSON.stringify([...loaded.outputNames].sort()) !== JSON.stringify(stated)) {
          problems.push(
            `model ${model.id}: outputs ${loaded.outputNames.join(', ')}, the manifest says ${stated.join(', ')}`,
          )
        }
      } catch (error) {
        problems.push(`model ${model.id}: ${errorMessage(error)}`)
      }
    }
    if (problems.length > 0) return []
    const cases = referenceCases(
      manifest,
      bytesOf(manifest.data.sample.file),
      bytesOf(manifest.data.reference.file),
    )
    const checks: ModelCheck[] = []
    for (const reference of cases) {
      const result = await runtime.run(reference.modelId, reference.inputs)
      const outcome = compareWithReference(reference, result.outputs)
      checks.push({
        id: outcome.modelId,
        maxAbsDiff: outcome.maxAbsDiff,
        argmaxAgreement: outcome.argmaxAgreement,
      })
      if (!(outcome.maxAbsDiff <= MAX_ABS_DIFF) || outcome.argmaxAgreement < 1) {
        problems.push(
          `model ${outcome.modelId}: differs from the reference outputs by up to ${outcome.maxAbsDiff.toExponential(2)} (at most ${MAX_ABS_DIFF} allowed), argmax agrees on ${(100 * outcome.argmaxAgreement).toFixed(1)}%`,
        )
      }
    }
    return checks
  } catch (error) {
    problems.push(`reference check: ${errorMessage(error)}`)
    return []
  } finally {
    for (const id of await runtime.models()) await runtime.unload(id)
  }
}

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

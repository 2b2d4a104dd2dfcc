import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Manifest, parseManifest } from '@cohort/protocol'
import { expect } from 'vitest'
import type { ExecutionProvider, RuntimeApi } from '../api.ts'
import { compareWithReference, type ReferenceCase, referenceCases } from '../reference-check.ts'

/** The repo's public/ folder: the shipped models and data. */
export const PUBLIC = fileURLToPath(new URL('../../../../public/', import.meta.url))

/** The shipped tasks (digits at least; fashion when trained). */
export const SHIPPED_TASKS = ['digits', 'fashion'].filter((t) =>
  existsSync(`${PUBLIC}models/${t}/manifest.json`),
)

/** A file of public/, by its manifest path. */
export const readPublic = (path: string) => new Uint8Array(readFileSync(PUBLIC + path))

/** A shipped task's manifest and its reference cases (inputs and PyTorch's outputs). */
export function shippedTask(task: string): { manifest: Manifest; cases: ReferenceCase[] } {
  const parsed = parseManifest(
    JSON.parse(readFileSync(`${PUBLIC}models/${task}/manifest.json`, 'utf8')),
  )
  if (!parsed.ok) throw new Error(parsed.error)
  const manifest = parsed.value
  const cases = referenceCases(
    manifest,
    readPublic(manifest.data.sample.file),
    readPublic(manifest.data.reference.file),
  )
  return { manifest, cases }
}

/** Loads every model of `manifest` on `executionProvider`. */
export async function loadShippedModels(
  runtime: RuntimeApi,
  manifest: Manifest,
  executionProvider: ExecutionProvider,
): Promise<void> {
  for (const m of manifest.models) {
    const loaded = await runtime.loadModel(m.id, readPublic(m.file).slice().buffer, {
      executionProvider,
      inputs: m.inputs,
    })
    expect(loaded.executionProvider).toBe(executionProvider)
  }
}

/** Every case through `runtime` gives PyTorch's outputs (1e-4) and the same argmax. */
export async function expectReferenceOutputs(
  runtime: RuntimeApi,
  cases: readonly ReferenceCase[],
): Promise<void> {
  for (const c of cases) {
    const out = await runtime.run(c.modelId, c.inputs)
    const outcome = compareWithReference(c, out.outputs)
    expect(outcome.maxAbsDiff, c.modelId).toBeLessThanOrEqual(1e-4)
    expect(outcome.argmaxAgreement, c.modelId).toBe(1)
  }
}

import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Manifest, parseManifest } from '@cohort/protocol'
import { type ReferenceCase, referenceCases } from '../reference-check.ts'

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

import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/**
 * Copies a shipped task into `root` (laid out like public/) under another task name, the way
 * someone would bring their own models: its manifest renamed, every file under the new name.
 * Returns the copy's manifest (as JSON) for tests that alter it.
 */
export function copyTaskAs(
  publicDir: string,
  from: string,
  to: string,
  root: string,
): Record<string, unknown> {
  const manifest = JSON.parse(
    readFileSync(join(publicDir, 'models', from, 'manifest.json'), 'utf8'),
  )
  const rename = (file: string) =>
    file.replace(`models/${from}/`, `models/${to}/`).replace(`data/${from}-`, `data/${to}-`)
  const copy = (entry: { file: string }) => {
    const target = join(root, rename(entry.file))
    mkdirSync(dirname(target), { recursive: true })
    copyFileSync(join(publicDir, entry.file), target)
    entry.file = rename(entry.file)
  }
  for (const model of manifest.models) copy(model)
  copy(manifest.data.sample)
  copy(manifest.data.reference)
  manifest.task = to
  writeManifest(root, to, manifest)
  return manifest
}

/** Writes a task's manifest into `root` (laid out like public/). */
export function writeManifest(root: string, task: string, manifest: unknown): void {
  mkdirSync(join(root, 'models', task), { recursive: true })
  writeFileSync(join(root, 'models', task, 'manifest.json'), JSON.stringify(manifest, null, 2))
}

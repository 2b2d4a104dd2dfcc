import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type Manifest, parseManifest, TaskSchema } from '@cohort/protocol'

/** Reads tasks' manifests from `<modelsDir>/<task>/manifest.json`, re-reading a file that changed. */
export class ManifestCatalog {
  readonly #cache = new Map<string, { mtimeMs: number; manifest: Manifest }>()

  constructor(
    private readonly modelsDir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** The validated manifest of `task`, or null (missing or invalid, logged once per change). */
  get(task: string): Manifest | null {
    if (!TaskSchema.safeParse(task).success) return null
    const file = join(this.modelsDir, task, 'manifest.json')
    let mtimeMs: number
    try {
      mtimeMs = statSync(file).mtimeMs
    } catch {
      return null
    }
    const cached = this.#cache.get(task)
    if (cached?.mtimeMs === mtimeMs) return cached.manifest
    try {
      const parsed = parseManifest(JSON.parse(readFileSync(file, 'utf8')))
      if (!parsed.ok) {
        this.log(`manifest of ${task} is invalid: ${parsed.error.slice(0, 300)}`)
        return null
      }
      this.#cache.set(task, { mtimeMs, manifest: parsed.value })
      return parsed.value
    } catch (error) {
      this.log(`manifest of ${task} is unreadable: ${String(error)}`)
      return null
    }
  }
}

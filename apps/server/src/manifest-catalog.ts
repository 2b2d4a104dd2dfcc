import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type Manifest, parseManifest, TaskSchema } from '@cohort/protocol'

/** Reads tasks' manifests from `<modelsDir>/<task>/manifest.json`, re-reading a file that changed. */
export class ManifestCatalog {
  /** Invalid files are cached too (as null), so each change is logged once, not on every replan. */
  readonly #cache = new Map<string, { stamp: string; manifest: Manifest | null }>()

  constructor(
    private readonly modelsDir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** The validated manifest of `task`, or null (missing or invalid, logged once per change). */
  get(task: string): Manifest | null {
    if (!TaskSchema.safeParse(task).success) return null
    const file = join(this.modelsDir, task, 'manifest.json')
    let stamp: string
    try {
      const stats = statSync(file)
      // mtime alone misses a rewrite within one tick of the kernel's coarse file clock.
      stamp = `${stats.mtimeMs}:${stats.ctimeMs}:${stats.size}:${stats.ino}`
    } catch {
      return null
    }
    const cached = this.#cache.get(task)
    if (cached?.stamp === stamp) return cached.manifest
    const manifest = this.#read(task, file)
    this.#cache.set(task, { stamp, manifest })
    return manifest
  }

  #read(task: string, file: string): Manifest | null {
    try {
      const parsed = parseManifest(JSON.parse(readFileSync(file, 'utf8')))
      if (parsed.ok) return parsed.value
      this.log(`manifest of ${task} is invalid: ${parsed.error.slice(0, 300)}`)
    } catch (error) {
      this.log(`manifest of ${task} is unreadable: ${String(error)}`)
    }
    return null
  }
}

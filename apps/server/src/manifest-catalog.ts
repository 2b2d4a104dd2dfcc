import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type Manifest, parseManifest, TaskSchema } from '@cohort/protocol'

/**
 * Reads tasks' manifests from `<modelsDir>/<task>/manifest.json`, the first of `modelsDirs` that
 * has the task winning, and re-reads a file that changed.
 */
export class ManifestCatalog {
  /** Invalid files are cached too (as null), so each change is logged once, not on every replan. */
  readonly #cache = new Map<string, { stamp: string; manifest: Manifest | null }>()

  constructor(
    private readonly modelsDirs: readonly string[],
    private readonly log: (line: string) => void,
  ) {}

  /** The validated manifest of `task`, or null (missing or invalid, logged once per change). */
  get(task: string): Manifest | null {
    if (!TaskSchema.safeParse(task).success) return null
    let file = ''
    let stamp: string | null = null
    for (const dir of this.modelsDirs) {
      file = join(dir, task, 'manifest.json')
      stamp = stampOf(file)
      if (stamp !== null) break
    }
    if (stamp === null) return null
    const cached = this.#cache.get(task)
    if (cached?.stamp === `${file}:${stamp}`) return cached.manifest
    const manifest = this.#read(task, file)
    this.#cache.set(task, { stamp: `${file}:${stamp}`, manifest })
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

/** A file's identity and version, or null when it does not exist. */
function stampOf(file: string): string | null {
  try {
    const stats = statSync(file)
    // mtime alone misses a rewrite within one tick of the kernel's coarse file clock.
    return `${stats.mtimeMs}:${stats.ctimeMs}:${stats.size}:${stats.ino}`
  } catch {
    return null
  }
}

/** The tasks of a folder laid out like public/: each `models/<task>/manifest.json`. */
export function tasksIn(root: string): string[] {
  const models = join(root, 'models')
  if (!existsSync(models)) return []
  return readdirSync(models, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(models, entry.name, 'manifest.json')))
    .map((entry) => entry.name)
    .sort()
}

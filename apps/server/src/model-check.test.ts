import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tasksIn } from './manifest-catalog.ts'
import { checkTask, MAX_ABS_DIFF } from './model-check.ts'
import { REPO_ROOT } from './server.ts'
import { copyTaskAs, writeManifest } from './testing/own-models.ts'

const PUBLIC = join(REPO_ROOT, 'public')
const SLOW = 120_000

interface ManifestJson {
  task: string
  models: { id: string; file: string; bytes: number; sha256: string }[]
}

let root: string
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'cohort-own-models-'))
})
afterEach(() => {
  rmSync(root, { recursive: true, force: true })
})

/** The digits task copied as `mine`, with its manifest for altering. */
const mine = () => copyTaskAs(PUBLIC, 'digits', 'mine', root) as unknown as ManifestJson
const modelOf = (manifest: ManifestJson, id: string) => {
  const model = manifest.models.find((m) => m.id === id)
  if (!model) throw new Error(`no ${id}`)
  return model
}

describe('checkTask', () => {
  it(
    'passes the shipped models and a copy under another name, every model within the reference bound',
    async () => {
      expect(tasksIn(PUBLIC)).toEqual(['digits', 'fashion'])
      const shipped = await checkTask(PUBLIC, 'digits')
      expect(shipped.problems).toEqual([])
      const manifest = mine()
      expect(tasksIn(root)).toEqual(['mine'])
      const copy = await checkTask(root, 'mine')
      expect(copy.problems).toEqual([])
      expect(copy.models.map((m) => m.id)).toEqual(manifest.models.map((m) => m.id))
      for (const model of copy.models) {
        expect(model.maxAbsDiff, model.id).toBeLessThanOrEqual(MAX_ABS_DIFF)
        expect(model.argmaxAgreement, model.id).toBe(1)
      }
    },
    SLOW,
  )

  it(
    'finds a model that loads but computes something else (two students swapped)',
    async () => {
      const manifest = mine()
      const [a, b] = [modelOf(manifest, 'student-2-0'), modelOf(manifest, 'student-2-1')]
      // Same architecture, other weights: the files and their hashes are consistent, the outputs not.
      const swapped = { file: a.file, bytes: a.bytes, sha256: a.sha256 }
      Object.assign(a, { file: b.file, bytes: b.bytes, sha256: b.sha256 })
      Object.assign(b, swapped)
      writeManifest(root, 'mine', manifest)
      const check = await checkTask(root, 'mine')
      expect(check.problems).toHaveLength(2)
      expect(check.problems[0]).toMatch(/^model student-2-0: differs from the reference outputs/)
      expect(check.problems[1]).toMatch(/^model student-2-1: differs from the reference outputs/)
    },
    SLOW,
  )

  it('names every altered or missing file before loading anything', async () => {
    const manifest = mine()
    const teacher = modelOf(manifest, 'teacher')
    const bytes = readFileSync(join(root, teacher.file))
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1)
    writeFileSync(join(root, teacher.file), bytes)
    rmSync(join(root, modelOf(manifest, 'combiner-2').file))
    const student = modelOf(manifest, 'student-1-0')
    student.bytes += 1
    writeManifest(root, 'mine', manifest)
    const check = await checkTask(root, 'mine')
    expect(check.models).toEqual([])
    expect(check.problems).toEqual([
      `model teacher: ${join(root, teacher.file)} has sha256 ${createHash('sha256').update(bytes).digest('hex')}, the manifest says ${teacher.sha256}`,
      expect.stringMatching(/^model student-1-0: .* has \d+ bytes, the manifest says \d+$/),
      expect.stringMatching(/^model combiner-2: .*combiner-2\.onnx cannot be read \(ENOENT/),
    ])
  })

  it('refuses a manifest that is not JSON, breaks the schema, or names another task', async () => {
    const manifest = mine()
    // The folder says one task, the manifest another: nothing is loaded.
    writeManifest(root, 'other', manifest)
    const misnamed = await checkTask(root, 'other')
    expect(misnamed.models).toEqual([])
    expect(misnamed.problems[0]).toMatch(/describes task "mine", not "other" \(its folder\)/)

    writeManifest(root, 'mine', { ...manifest, models: 'none' })
    const broken = await checkTask(root, 'mine')
    expect(broken.problems).toHaveLength(1)
    expect(broken.problems[0]).toMatch(/does not match the manifest schema:\n.*models/s)

    writeFileSync(join(root, 'models', 'mine', 'manifest.json'), '{ "task": ')
    expect((await checkTask(root, 'mine')).problems[0]).toMatch(/not readable JSON/)
  })
})

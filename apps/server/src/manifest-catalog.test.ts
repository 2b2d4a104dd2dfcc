import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManifestCatalog } from './manifest-catalog.ts'
import { REPO_ROOT } from './server.ts'

// A real manifest to start from: the shipped digits one.
const shipped = JSON.parse(
  readFileSync(join(REPO_ROOT, 'public', 'models', 'digits', 'manifest.json'), 'utf8'),
) as Record<string, unknown>

let dir: string
let logs: string[]
let catalog: ManifestCatalog

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cohort-catalog-'))
  logs = []
  catalog = new ManifestCatalog([dir], (line) => logs.push(line))
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

function write(task: string, content: string): void {
  mkdirSync(join(dir, task), { recursive: true })
  writeFileSync(join(dir, task, 'manifest.json'), content)
}

describe('ManifestCatalog', () => {
  it('returns null for a task without a manifest, or with a name that is not a task', () => {
    expect(catalog.get('digits')).toBeNull()
    mkdirSync(join(dir, 'digits'))
    expect(catalog.get('digits')).toBeNull()
    write('x', JSON.stringify(shipped))
    expect(catalog.get('../x')).toBeNull()
    expect(catalog.get('')).toBeNull()
    expect(logs).toEqual([])
  })

  it('takes a task from the first folder that has it (your own models before the shipped ones)', () => {
    const own = join(dir, 'own')
    const layered = new ManifestCatalog([own, dir], (line) => logs.push(line))
    write('digits', JSON.stringify(shipped))
    expect(layered.get('digits')?.classes).toEqual(shipped.classes)
    const yours = { ...shipped, classes: (shipped.classes as string[]).map((c) => `your ${c}`) }
    mkdirSync(join(own, 'digits'), { recursive: true })
    writeFileSync(join(own, 'digits', 'manifest.json'), JSON.stringify(yours))
    expect(layered.get('digits')?.classes).toEqual(yours.classes)
    rmSync(join(own, 'digits'), { recursive: true })
    expect(layered.get('digits')?.classes).toEqual(shipped.classes)
  })

  it('reads and validates a manifest', () => {
    write('digits', JSON.stringify(shipped))
    const manifest = catalog.get('digits')
    expect(manifest?.task).toBe(shipped.task)
    expect(manifest?.ensembles.length).toBeGreaterThan(0)
    expect(catalog.get('digits')).toBe(manifest)
  })

  it('returns null for invalid JSON and logs it once until the file changes', () => {
    write('digits', '{ "task": ')
    expect(catalog.get('digits')).toBeNull()
    expect(catalog.get('digits')).toBeNull()
    expect(logs).toHaveLength(1)
    expect(logs[0]).toMatch(/^manifest of digits is unreadable: /)

    write('digits', '{ "task": "digits" }')
    expect(catalog.get('digits')).toBeNull()
    expect(catalog.get('digits')).toBeNull()
    expect(logs).toHaveLength(2)
    expect(logs[1]).toMatch(/^manifest of digits is invalid: /)
  })

  it('re-reads a file that changed, even right after the last read', () => {
    // Rewritten within one tick of the file clock (or copied with its times kept): same mtime.
    const file = join(dir, 'digits', 'manifest.json')
    const instant = new Date('2025-01-01T00:00:00Z')
    write('digits', JSON.stringify(shipped))
    utimesSync(file, instant, instant)
    expect(catalog.get('digits')?.task).toBe(shipped.task)
    write('digits', JSON.stringify({ ...shipped, task: 'digits-renamed' }))
    utimesSync(file, instant, instant)
    expect(statSync(file).mtimeMs).toBe(instant.getTime())
    expect(catalog.get('digits')?.task).toBe('digits-renamed')

    write('digits', 'not json')
    expect(catalog.get('digits')).toBeNull()
    write('digits', JSON.stringify(shipped))
    expect(catalog.get('digits')?.task).toBe(shipped.task)

    rmSync(join(dir, 'digits', 'manifest.json'))
    expect(catalog.get('digits')).toBeNull()
  })
})

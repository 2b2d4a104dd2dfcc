import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { DirectoryModelCache } from './directory-cache.ts'

describe('DirectoryModelCache', () => {
  const dirs: string[] = []
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'cohort-cache-'))
    dirs.push(dir)
    return dir
  }
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  test('keeps bytes under their key across openings, and forgets what is deleted', async () => {
    const dir = fresh()
    const { cache, mode } = await DirectoryModelCache.open(dir)
    expect(mode.kind).toBe('directory')
    const key = 'http://127.0.0.1:8080/models/fashion/teacher.onnx#abc'
    await cache.write(key, new Uint8Array([1, 2, 3]).buffer)
    const again = (await DirectoryModelCache.open(dir)).cache
    expect(new Uint8Array((await again.read(key)) ?? new ArrayBuffer(0))).toEqual(
      new Uint8Array([1, 2, 3]),
    )
    expect(await again.keys()).toEqual([key])
    expect(await again.read('http://127.0.0.1:8080/other')).toBeNull()
    expect(await again.delete(key)).toBe(true)
    expect(await again.delete(key)).toBe(false)
    expect(await again.keys()).toEqual([])
    // Nothing is left behind: no temporary files, no orphaned halves.
    expect(readdirSync(dir)).toEqual([])
  })

  test('a stray file in the folder is not taken for a model', async () => {
    const dir = fresh()
    writeFileSync(join(dir, 'notes.txt'), 'hello')
    const { cache } = await DirectoryModelCache.open(dir)
    expect(await cache.keys()).toEqual([])
  })
})

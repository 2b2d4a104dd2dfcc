import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ModelCache, StorageMode } from './model-cache.ts'

/**
 * Models in a folder, for Node devices: they survive restarts, so a device that rejoins
 * downloads nothing. Each entry is `<sha256 of key>.bin` (the bytes) and `.key` (the key); the
 * bytes are written to a temporary name and renamed, so a crash never leaves half a model under a
 * real name (and the store verifies every read against the manifest's sha256 anyway).
 */
export class DirectoryModelCache implements ModelCache {
  private constructor(private readonly dir: string) {}

  /** Opens (creating if needed) the cache folder. */
  static async open(dir: string): Promise<{ cache: DirectoryModelCache; mode: StorageMode }> {
    await mkdir(dir, { recursive: true })
    return {
      cache: new DirectoryModelCache(dir),
      mode: { kind: 'directory', reason: `verified models are kept in ${dir}` },
    }
  }

  private path(key: string, ext: 'bin' | 'key'): string {
    return join(this.dir, `${createHash('sha256').update(key).digest('hex')}.${ext}`)
  }

  async read(key: string): Promise<ArrayBuffer | null> {
    try {
      const bytes = await readFile(this.path(key, 'bin'))
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
  }

  async write(key: string, bytes: ArrayBuffer): Promise<void> {
    const temporary = join(this.dir, `.${randomBytes(8).toString('hex')}.tmp`)
    await writeFile(temporary, new Uint8Array(bytes))
    await rename(temporary, this.path(key, 'bin'))
    await writeFile(this.path(key, 'key'), key)
  }

  async delete(key: string): Promise<boolean> {
    const existed = (await this.read(key)) !== null
    await rm(this.path(key, 'bin'), { force: true })
    await rm(this.path(key, 'key'), { force: true })
    return existed
  }

  async keys(): Promise<string[]> {
    const names = (await readdir(this.dir)).filter((name) => name.endsWith('.key'))
    const keys = await Promise.all(
      names.map((name) => readFile(join(this.dir, name), 'utf8').catch(() => null)),
    )
    return keys.filter((key): key is string => key !== null)
  }
}

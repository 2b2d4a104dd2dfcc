/**
 * Where verified model bytes are kept between visits. The Cache API survives reloads but exists
 * only in secure contexts (https, or http://localhost); elsewhere models live in memory for the
 * page's lifetime and are downloaded again on the next visit.
 */

/** Which storage the store uses, and why, for the device page to show. */
export interface StorageMode {
  /** The Cache API or memory in browsers; a folder for Node devices. */
  readonly kind: 'cache-api' | 'memory' | 'directory'
  readonly reason: string
}

/** A key-value store of model bytes; keys are opaque strings chosen by the model store. */
export interface ModelCache {
  read(key: string): Promise<ArrayBuffer | null>
  write(key: string, bytes: ArrayBuffer): Promise<void>
  /** Resolves true if something was deleted. */
  delete(key: string): Promise<boolean>
  keys(): Promise<string[]>
}

/** The Cache API bucket Cohort owns: every entry in it is a model the store wrote. */
export const MODEL_CACHE_NAME = 'cohort-models-v1'

/** Models in memory: for insecure contexts and for tests. */
export class MemoryModelCache implements ModelCache {
  private readonly entries = new Map<string, ArrayBuffer>()

  read(key: string): Promise<ArrayBuffer | null> {
    const bytes = this.entries.get(key)
    // Hand out copies: callers transfer what they get, which would detach the stored buffer.
    return Promise.resolve(bytes ? bytes.slice(0) : null)
  }
  write(key: string, bytes: ArrayBuffer): Promise<void> {
    this.entries.set(key, bytes.slice(0))
    return Promise.resolve()
  }
  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.entries.delete(key))
  }
  keys(): Promise<string[]> {
    return Promise.resolve([...this.entries.keys()])
  }
}

/** Models in the Cache API under MODEL_CACHE_NAME; keys must be absolute URLs. */
export class CacheApiModelCache implements ModelCache {
  constructor(private readonly cache: Cache) {}

  async read(key: string): Promise<ArrayBuffer | null> {
    const response = await this.cache.match(key)
    return response ? response.arrayBuffer() : null
  }
  write(key: string, bytes: ArrayBuffer): Promise<void> {
    return this.cache.put(
      key,
      new Response(bytes, {
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(bytes.byteLength),
        },
      }),
    )
  }
  delete(key: string): Promise<boolean> {
    return this.cache.delete(key)
  }
  async keys(): Promise<string[]> {
    return (await this.cache.keys()).map((request) => request.url)
  }
}

/** The best cache this context allows, with the reason for the choice. */
export async function openModelCache(): Promise<{ cache: ModelCache; mode: StorageMode }> {
  if (globalThis.isSecureContext === false) {
    return {
      cache: new MemoryModelCache(),
      mode: {
        kind: 'memory',
        reason:
          'not a secure context (plain http on a LAN address): the Cache API is unavailable, models are kept in memory until the page closes',
      },
    }
  }
  if (typeof caches === 'undefined') {
    return {
      cache: new MemoryModelCache(),
      mode: {
        kind: 'memory',
        reason: 'this browser has no Cache API: models are kept in memory until the page closes',
      },
    }
  }
  try {
    const cache = await caches.open(MODEL_CACHE_NAME)
    return {
      cache: new CacheApiModelCache(cache),
      mode: {
        kind: 'cache-api',
        reason: 'secure context: verified models are kept in the Cache API across visits',
      },
    }
  } catch (error) {
    // Private modes and storage policies can refuse the Cache API even in secure contexts.
    return {
      cache: new MemoryModelCache(),
      mode: {
        kind: 'memory',
        reason: `the Cache API refused to open (${error instanceof Error ? error.message : String(error)}): models are kept in memory`,
      },
    }
  }
}

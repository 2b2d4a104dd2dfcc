import { type Manifest, type ModelEntry, parseManifest } from '@cohort/protocol'
import { type ModelCache, openModelCache, type StorageMode } from './model-cache.ts'
import { RuntimeError, toRuntimeError } from './runtime-error.ts'
import { type HashMode, hashMode, sha256Digest } from './sha256.ts'

/** Download progress of one model; `bytesDone === bytesTotal` once it has all arrived. */
export interface ModelProgress {
  readonly modelId: string
  readonly bytesDone: number
  readonly bytesTotal: number
  readonly source: ModelSource
}

/** Where a model's bytes came from on this visit. */
export type ModelSource = 'network' | 'cache'

/** Verified bytes of one model. */
export interface StoredModel {
  readonly entry: ModelEntry
  /** Bytes whose size and sha256 match the manifest. */
  readonly bytes: ArrayBuffer
  readonly source: ModelSource
}

/** What the store reports besides progress: evictions and cache problems. */
export type ModelStoreEvent =
  | { readonly type: 'evicted'; readonly key: string; readonly reason: string }
  | { readonly type: 'cache-write-failed'; readonly modelId: string; readonly message: string }

/** Settings of a ModelStore. */
export interface ModelStoreOptions {
  /** The public/ root the manifest's paths are relative to (the page's origin + '/'). */
  readonly baseUrl: string
  /** Defaults to the Cache API when the context allows it, else memory. */
  readonly cache?: { readonly cache: ModelCache; readonly mode: StorageMode }
  readonly fetch?: typeof fetch
  readonly hashMode?: HashMode
  readonly onEvent?: (event: ModelStoreEvent) => void
}

/** Per-load options. */
export interface LoadModelOptions {
  readonly onProgress?: (progress: ModelProgress) => void
  readonly signal?: AbortSignal
}

/**
 * Fetches manifests and model files, verifies every model's size and sha256 against its manifest
 * entry before anyone can create a session from it, and keeps verified models in the cache so the
 * next visit downloads nothing. Bytes that fail verification are refused with an 'integrity'
 * RuntimeError and evicted; a tampered cache entry is evicted and downloaded again.
 */
export class ModelStore {
  /** Which storage holds the models, and why. */
  readonly storage: StorageMode
  /** How hashes are computed (WebCrypto, or JavaScript outside secure contexts). */
  readonly hashing: HashMode
  private readonly cache: ModelCache
  private readonly baseUrl: string
  private readonly fetchImpl: typeof fetch
  private readonly onEvent: (event: ModelStoreEvent) => void

  private constructor(options: ModelStoreOptions, cache: { cache: ModelCache; mode: StorageMode }) {
    this.baseUrl = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`
    this.cache = cache.cache
    this.storage = cache.mode
    this.hashing = options.hashMode ?? hashMode()
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init))
    this.onEvent = options.onEvent ?? (() => undefined)
  }

  /** Opens the store on the best cache this context allows (or the one given). */
  static async open(options: ModelStoreOptions): Promise<ModelStore> {
    return new ModelStore(options, options.cache ?? (await openModelCache()))
  }

  /** Fetches and validates public/models/<task>/manifest.json, bypassing HTTP caches (models get retrained). */
  async fetchManifest(task: string, signal?: AbortSignal): Promise<Manifest> {
    if (!/^[a-z0-9-]+$/.test(task))
      throw new RuntimeError('bad-manifest', `"${task}" is not a task name`)
    const url = `${this.baseUrl}models/${task}/manifest.json`
    const response = await this.get(url, signal, 'no-cache')
    let json: unknown
    try {
      json = await response.json()
    } catch (error) {
      throw new RuntimeError('bad-manifest', `${url} is not JSON: ${toRuntimeError(error).message}`)
    }
    const parsed = parseManifest(json)
    if (!parsed.ok)
      throw new RuntimeError(
        'bad-manifest',
        `${url} does not match the manifest schema: ${parsed.error}`,
      )
    if (parsed.value.task !== task) {
      throw new RuntimeError(
        'bad-manifest',
        `${url} describes task ${parsed.value.task}, not ${task}`,
      )
    }
    return parsed.value
  }

  /** Verified bytes of a model: from the cache when it holds a good copy, else downloaded (with progress). */
  async load(entry: ModelEntry, options: LoadModelOptions = {}): Promise<StoredModel> {
    const key = this.keyOf(entry)
    const cached = await this.readCache(key)
    if (cached) {
      const problem = await this.verify(entry, cached)
      if (problem === null) {
        options.onProgress?.({
          modelId: entry.id,
          bytesDone: entry.bytes,
          bytesTotal: entry.bytes,
          source: 'cache',
        })
        return { entry, bytes: cached, source: 'cache' }
      }
      await this.evict(key, `cached ${entry.id} failed verification (${problem})`)
    }
    const bytes = await this.download(entry, options)
    const problem = await this.verify(entry, bytes)
    if (problem !== null) {
      await this.evict(key, `downloaded ${entry.id} failed verification (${problem})`)
      throw new RuntimeError(
        'integrity',
        `${entry.file} does not match its manifest (${problem}); it was refused. Redeploy the model or its manifest.`,
      )
    }
    try {
      await this.cache.write(key, bytes)
    } catch (error) {
      // A full quota costs the next visit a download, not this one its model.
      this.onEvent({
        type: 'cache-write-failed',
        modelId: entry.id,
        message: toRuntimeError(error).message,
      })
    }
    return { entry, bytes, source: 'network' }
  }

  /** Evicts every cached model not among `entries` (a new plan's models); resolves with the evicted keys. */
  async retain(entries: readonly ModelEntry[]): Promise<string[]> {
    const keep = new Set(entries.map((e) => this.keyOf(e)))
    const evicted: string[] = []
    for (const key of await this.cache.keys()) {
      if (keep.has(key)) continue
      await this.evict(key, 'no longer needed by the plan')
      evicted.push(key)
    }
    return evicted
  }

  /** Whether a verified copy of this model is cached (its bytes are checked again when loaded). */
  async has(entry: ModelEntry): Promise<boolean> {
    return (await this.cache.keys()).includes(this.keyOf(entry))
  }

  /** A key per file and content: a retrained model under the same path never matches an old copy. */
  private keyOf(entry: ModelEntry): string {
    return `${this.baseUrl}${entry.file}?sha256=${entry.sha256}`
  }

  private async readCache(key: string): Promise<ArrayBuffer | null> {
    try {
      return await this.cache.read(key)
    } catch {
      return null
    }
  }

  private async evict(key: string, reason: string): Promise<void> {
    try {
      await this.cache.delete(key)
    } catch {
      // Nothing more to do: a later verification refuses the entry again.
    }
    this.onEvent({ type: 'evicted', key, reason })
  }

  /** Null when the bytes are the manifest's, else what is wrong with them. */
  private async verify(entry: ModelEntry, bytes: ArrayBuffer): Promise<string | null> {
    if (bytes.byteLength !== entry.bytes)
      return `${bytes.byteLength} bytes instead of ${entry.bytes}`
    const hash = await sha256Digest(new Uint8Array(bytes), this.hashing)
    return hash === entry.sha256 ? null : `sha256 ${hash} instead of ${entry.sha256}`
  }

  private async get(
    url: string,
    signal: AbortSignal | undefined,
    cache: RequestCache,
  ): Promise<Response> {
    let response: Response
    try {
      response = await this.fetchImpl(url, { cache, ...(signal ? { signal } : {}) })
    } catch (error) {
      if (signal?.aborted) throw new RuntimeError('cancelled', `fetching ${url} was aborted`)
      throw new RuntimeError(
        'download-failed',
        `could not fetch ${url}: ${toRuntimeError(error).message}`,
      )
    }
    if (!response.ok) {
      throw new RuntimeError(
        'download-failed',
        `${url} answered ${response.status} ${response.statusText}`,
      )
    }
    return response
  }

  /** Streams the file, reporting progress against the manifest's size (Content-Length may be compressed). */
  private async download(entry: ModelEntry, options: LoadModelOptions): Promise<ArrayBuffer> {
    const url = `${this.baseUrl}${entry.file}`
    // With the Cache API holding the verified copy, the HTTP cache need not keep another; in
    // memory mode it is what spares a phone on plain http the next visit's bytes (a 304).
    const httpCache = this.storage.kind === 'cache-api' ? 'no-store' : 'no-cache'
    const response = await this.get(url, options.signal, httpCache)
    const total = entry.bytes
    const progress = (bytesDone: number) =>
      options.onProgress?.({ modelId: entry.id, bytesDone, bytesTotal: total, source: 'network' })
    progress(0)
    if (!response.body) {
      const bytes = await response.arrayBuffer()
      progress(Math.min(bytes.byteLength, total))
      return bytes
    }
    const out = new Uint8Array(total)
    let done = 0
    const reader = response.body.getReader()
    try {
      for (;;) {
        const chunk = await reader.read()
        if (chunk.done) break
        if (done + chunk.value.byteLength > total) {
          await reader.cancel()
          throw new RuntimeError(
            'integrity',
            `${url} is larger than the ${total} bytes its manifest says; it was refused`,
          )
        }
        out.set(chunk.value, done)
        done += chunk.value.byteLength
        progress(done)
      }
    } catch (error) {
      if (options.signal?.aborted)
        throw new RuntimeError('cancelled', `downloading ${url} was aborted`)
      throw toRuntimeError(error, 'download-failed')
    } finally {
      reader.releaseLock()
    }
    // A short file fails verification by its size.
    return done === total ? out.buffer : out.slice(0, done).buffer
  }
}

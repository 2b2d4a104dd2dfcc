import {
  CohortError,
  type DeviceModels,
  type DeviceProfile,
  findModel,
  type Manifest,
  type ModelEntry,
} from '@cohort/protocol'

/** What a device's models need of its local runtime: sessions made from bytes, and freed. */
export interface ModelSessions {
  loadModel(
    id: string,
    bytes: ArrayBuffer,
    options: {
      readonly executionProvider: DeviceProfile['executionProvider']
      readonly inputs: ModelEntry['inputs']
    },
  ): Promise<unknown>
  unload(id: string): Promise<void>
}

/** What a server needs of a device's models: one held loaded for the length of a run. */
export interface ModelHolder {
  /**
   * Resolves once `modelId` is loaded (loading it on demand when it is not), and keeps it loaded
   * until the returned release is called. Rejects with `not-loaded` when it cannot be loaded.
   */
  hold(modelId: string, signal: AbortSignal): Promise<() => void>
}

/** How a device keeps its models. */
export interface PlannedModelsOptions {
  readonly manifest: Manifest
  readonly sessions: ModelSessions
  /** A model's verified bytes, from a cache or the network. */
  readonly bytes: (entry: ModelEntry) => Promise<ArrayBuffer>
  readonly executionProvider: DeviceProfile['executionProvider']
  /** Most models kept loaded: the assigned ones always; standby and the rest up to this. */
  readonly maxLoaded: number
  /** Models already loaded (to profile the device, say). */
  readonly loaded?: Iterable<string>
  /** Called with the loaded models whenever a load or unload settles. */
  readonly changed?: (loaded: ReadonlySet<string>) => void
  readonly log?: (line: string) => void
}

/** Models a device keeps loaded by default: a student, a segment, the teacher and a standby set. */
export const DEFAULT_MAX_LOADED_MODELS = 8

/**
 * A device's loaded models, following the plan: it loads what the plan assigns it, then its
 * standby models, and frees the rest beyond `maxLoaded`, least recently used first and never
 * one a request is running on. A model no plan named is loaded on demand when a request asks
 * for it, so a request on an older plan still finds its model.
 */
export class PlannedModels implements ModelHolder {
  readonly #options: PlannedModelsOptions
  readonly #loaded = new Set<string>()
  /** Loads under way, shared by everyone who needs the model. */
  readonly #loading = new Map<string, Promise<void>>()
  /** Runs holding each model. */
  readonly #holds = new Map<string, number>()
  /** When each loaded model was last used or named, for eviction. */
  readonly #lastUse = new Map<string, number>()
  #clock = 0
  #wanted: DeviceModels | null = null
  #following: Promise<void> = Promise.resolve()

  constructor(options: PlannedModelsOptions) {
    this.#options = options
    for (const id of options.loaded ?? []) {
      this.#loaded.add(id)
      this.#touch(id)
    }
  }

  /** The models loaded now. */
  loaded(): ReadonlySet<string> {
    return new Set(this.#loaded)
  }

  /**
   * Follows a plan's models for this device: its assigned models, then its standby, are loaded
   * in that order; what no longer fits goes. Resolves once this and every earlier call settled.
   */
  follow(models: DeviceModels | undefined): Promise<void> {
    if (!models) return this.#following
    this.#wanted = models
    const run = this.#following.then(() => this.#reconcile())
    this.#following = run.catch(() => undefined)
    return this.#following
  }

  async hold(modelId: string, signal: AbortSignal): Promise<() => void> {
    this.#holds.set(modelId, (this.#holds.get(modelId) ?? 0) + 1)
    let released = false
    const release = () => {
      if (released) return
      released = true
      const left = (this.#holds.get(modelId) ?? 1) - 1
      if (left > 0) this.#holds.set(modelId, left)
      else this.#holds.delete(modelId)
      this.#touch(modelId)
    }
    try {
      if (!this.#loaded.has(modelId)) {
        await abortable(this.#load(modelId), signal)
        void this.#evict()
      }
      return release
    } catch (error) {
      release()
      throw error
    }
  }

  async #reconcile(): Promise<void> {
    const wanted = this.#wanted
    if (!wanted) return
    const order = [...wanted.assigned, ...wanted.standby]
    const room = Math.max(this.#options.maxLoaded, wanted.assigned.length)
    for (const id of order.slice(0, room)) {
      if (this.#wanted !== wanted) return // a newer plan takes over from here
      this.#touch(id)
      if (this.#loaded.has(id)) continue
      try {
        await this.#load(id)
      } catch (error) {
        // Requests for it will try again on demand (and fail over to another member meanwhile).
        this.#options.log?.(`could not load ${id}: ${(error as Error).message}`)
      }
    }
    await this.#evict()
  }

  #load(id: string): Promise<void> {
    const pending = this.#loading.get(id)
    if (pending !== undefined) return pending
    const entry = findModel(this.#options.manifest, id)
    if (!entry) {
      return Promise.reject(
        new CohortError(
          'bad-message',
          `${id} is not a model of task ${this.#options.manifest.task}`,
        ),
      )
    }
    const load = (async () => {
      try {
        const bytes = await this.#options.bytes(entry)
        await this.#options.sessions.loadModel(id, bytes, {
          executionProvider: this.#options.executionProvider,
          inputs: entry.inputs,
        })
      } catch (error) {
        throw new CohortError('not-loaded', `this device could not load ${id}: ${message(error)}`)
      }
      this.#loaded.add(id)
      this.#touch(id)
      this.#options.changed?.(this.loaded())
    })().finally(() => this.#loading.delete(id))
    this.#loading.set(id, load)
    return load
  }

  /** Frees loaded models beyond `maxLoaded` that the plan does not name, oldest use first. */
  async #evict(): Promise<void> {
    const named = new Set([...(this.#wanted?.assigned ?? []), ...(this.#wanted?.standby ?? [])])
    const room = Math.max(this.#options.maxLoaded, this.#wanted?.assigned.length ?? 0)
    const spare = [...this.#loaded]
      .filter((id) => !(this.#wanted?.assigned ?? []).includes(id) && !this.#holds.has(id))
      // Unnamed models go first, then standby; the least recently used of each first.
      .sort(
        (a, b) =>
          Number(named.has(a)) - Number(named.has(b)) ||
          (this.#lastUse.get(a) ?? 0) - (this.#lastUse.get(b) ?? 0),
      )
    let excess = this.#loaded.size - room
    const freed: string[] = []
    for (const id of spare) {
      if (excess <= 0) break
      this.#loaded.delete(id)
      this.#lastUse.delete(id)
      freed.push(id)
      excess--
    }
    if (freed.length === 0) return
    this.#options.changed?.(this.loaded())
    // The runtime lets calls already queued on a session finish before it frees it.
    await Promise.all(freed.map((id) => this.#options.sessions.unload(id).catch(() => undefined)))
  }

  #touch(id: string): void {
    this.#lastUse.set(id, ++this.#clock)
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** `work`, or a `cancelled` rejection as soon as `signal` aborts (the work itself goes on). */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelled())
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled())
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

function cancelled(): CohortError {
  return new CohortError('cancelled', 'the request was cancelled while its model loaded')
}
